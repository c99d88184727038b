"""The CLI's errors: each carries the one line to print and the process exit status."""

from __future__ import annotations

# Exit statuses, documented in docs/management.md.
EXIT_OK = 0
EXIT_FAILED = 1  # the gateway refused or failed the operation; invoke got a non-2xx
EXIT_USAGE = 2  # bad arguments or definition file
EXIT_UNREACHABLE = 3  # no gateway answers at the URL (or it timed out)
EXIT_UNAUTHORIZED = 4  # wrong or missing credentials


class CliError(Exception):
    """Base class: `message` is printed after `faas: `, the process exits with `exit_code`."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(CliError):
    """Bad arguments, or a definition file that cannot be used."""

    exit_code = EXIT_USAGE


class GatewayUnreachable(CliError):
    """Connecting to the gateway failed or timed out."""

    exit_code = EXIT_UNREACHABLE


class Unauthorized(CliError):
    """The gateway answered 401."""

    exit_code = EXIT_UNAUTHORIZED


class ApiError(CliError):
    """The gateway answered an error status (the message is its own)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code
