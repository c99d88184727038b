"""`/system/triggers`: every function's triggers with a schedule's next runs, and a
trigger fired once by hand (behind the management API's auth; listed with the rest of
`/system` in `gateway.management.routes`).

- `GET /system/triggers`: each trigger, and the trigger labels left out as invalid.
- `POST /system/triggers/{name}/fire[?trigger=<trigger>]`: one async call of the
  function as the trigger makes it (`X-Trigger`, a schedule's body, or the request's
  body if one is sent), queued now; 202 with its call id. `trigger` may be left out when
  the function has one trigger.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from gateway.api_types.answers import Fired, Triggers, TriggerStatus
from gateway.asgi import MAX_API_BODY_BYTES, read_bounded_body
from gateway.errors import BadRequest, FunctionNotFound, NoRoute
from gateway.management.operations import System, answer
from gateway.providers.base import Function
from gateway.triggers.annotations import Trigger, parse_triggers
from gateway.triggers.firing import CONNECTOR, Firing, queue_firing
from gateway.versions.model import VERSION_OF_LABEL

NEXT_RUNS = 3
"""A schedule's next ticks shown."""


def trigger_statuses(function: Function, now: float) -> list[TriggerStatus]:
    """A function's triggers as the API shows them."""
    triggers, _ = parse_triggers(function.labels)
    return [_status(function.name, trigger, now) for trigger in triggers]


def _status(function: str, trigger: Trigger, now: float) -> TriggerStatus:
    status = TriggerStatus(
        function=function,
        name=trigger.name,
        kind=trigger.kind,
        mode=trigger.mode,
        openfaas=trigger.openfaas,
    )
    schedule = trigger.schedule
    if schedule is None:
        status.topics = list(trigger.topics)
        return status
    status.schedule, status.timezone, status.catchUp = (
        schedule.expression,
        schedule.timezone,
        trigger.catch_up,
    )
    runs: list[str] = []
    moment = now
    try:
        for _ in range(NEXT_RUNS):
            moment = schedule.next_after(moment)
            runs.append(datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z"))
    except StopIteration:  # a schedule that stops (cronsim looks 50 years ahead)
        pass
    status.nextRuns = runs
    return status


async def list_triggers(request: Request, system: System) -> Response:
    """`GET /system/triggers`."""
    now = time.time()
    statuses: list[TriggerStatus] = []
    problems: list[str] = []
    for function in system.provider.functions():
        if VERSION_OF_LABEL in function.labels:
            continue
        triggers, found = parse_triggers(function.labels)
        statuses.extend(_status(function.name, trigger, now) for trigger in triggers)
        problems.extend(f"{function.name}: {problem}" for problem in found)
    return answer(Triggers(triggers=statuses, problems=problems))


async def fire_trigger(request: Request, system: System) -> Response:
    """`POST /system/triggers/{name}/fire`."""
    name = system.function_name(request, request.path_params["name"])
    function = system.provider.lookup(name)
    if function is None:
        raise FunctionNotFound(name)
    triggers, _ = parse_triggers(function.labels)
    wanted = request.query_params.get("trigger")
    if wanted is None and len(triggers) != 1:
        names = ", ".join(trigger.name for trigger in triggers) or "none"
        raise BadRequest(f"function {function.name!r} has triggers {names}: name one (?trigger=)")
    found = [trigger for trigger in triggers if wanted in (None, trigger.name)]
    if not found:
        raise NoRoute(f"function {function.name!r} has no trigger {wanted!r}")
    trigger = found[0]
    body = await read_bounded_body(request.scope["headers"], request.receive, MAX_API_BODY_BYTES)
    headers = [("X-Connector", f"{CONNECTOR}/hand"), ("X-Trigger", trigger.name)]
    if trigger.topics:
        headers.append(("X-Topic", trigger.topics[0]))
    firing = Firing(
        function.name,
        trigger,
        f"faas-fire/{trigger.name}/{uuid.uuid4().hex}",
        body or trigger.body,
        tuple(headers),
    )
    call_id = await queue_firing(system.async_broker(), system.config.async_calls, firing)
    return answer(Fired(function=function.name, trigger=trigger.name, callId=call_id), 202)
