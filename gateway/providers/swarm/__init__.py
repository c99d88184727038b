"""The Docker Swarm provider: services on the functions network are functions."""

from gateway.providers.swarm.discovery import SwarmProvider

__all__ = ["SwarmProvider"]
