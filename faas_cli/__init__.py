"""`faas`: the command line for the faas gateway's management API (see docs/management.md)."""

__version__ = "0.1.0"
