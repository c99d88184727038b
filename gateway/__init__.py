"""The faas gateway: routes HTTP requests to functions running as Docker Swarm services."""

__version__ = "0.1.0"
