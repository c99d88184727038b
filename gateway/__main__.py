"""`python -m gateway`: read the config from the environment and serve the gateway."""

from __future__ import annotations

import logging
import sys

import uvicorn

from gateway.app import create_app
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.providers.base import FunctionProvider
from gateway.providers.static import StaticProvider
from gateway.server import server_config


def build_provider(config: GatewayConfig) -> FunctionProvider:
    """The provider `GATEWAY_PROVIDER` asks for (Swarm is imported only when chosen)."""
    if config.provider == "static":
        return StaticProvider(config.static_functions)
    from gateway.providers.swarm import SwarmProvider

    return SwarmProvider(network=config.swarm_network, resync_interval=config.swarm_resync_interval)


def main() -> int:
    """Run the gateway until interrupted; 2 on a configuration error."""
    try:
        config = load_config()
    except ConfigError as error:
        print(f"gateway: configuration error: {error}", file=sys.stderr)
        return 2
    # The gateway's own loggers (gateway.*: scaling, discovery, management) at the
    # configured level; uvicorn configures its own.
    logging.basicConfig(
        level=config.log_level.upper() if config.log_level != "trace" else logging.DEBUG,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    app = create_app(config, build_provider(config))
    uvicorn.Server(server_config(app, config)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
