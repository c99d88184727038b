"""`python -m gateway`: read the config from the environment and serve the gateway."""

from __future__ import annotations

import sys

from gateway.assembly import configure_logging
from gateway.config import ConfigError, load_config
from gateway.neighbours import warn_if_slow
from gateway.workers import serve


def main() -> int:
    """Run the gateway until interrupted; 2 on a configuration error."""
    try:
        config = load_config()
    except ConfigError as error:
        print(f"gateway: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(config)
    if config.provider == "swarm":
        warn_if_slow()
    serve(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
