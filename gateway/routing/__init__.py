"""Which function a request names: every routing rule behind one `resolve`.

- `rules`: a `/function/<name>` path, or an `X-Function` header (no I/O).
- `hosts`: the request's host name: a custom domain or `<name>.<functions domain>`.
- `alexa`: an Alexa skill request, by intent (reads a small JSON body).
- `resolve`: the rules in order, giving a `Target` or a `DirectReply` (`Router`: with
  the host rule's parts bound, as the proxy calls it).
"""

from gateway.routing.hosts import HostRoutes
from gateway.routing.resolve import DirectReply, Lookup, Router, resolve
from gateway.routing.rules import Target

__all__ = ["DirectReply", "HostRoutes", "Lookup", "Router", "Target", "resolve"]
