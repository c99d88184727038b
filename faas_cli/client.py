"""`GatewayClient`: the management API over httpx, with errors a person can act on."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote

import httpx

from faas_cli.errors import ApiError, GatewayUnreachable, Unauthorized

DEFAULT_GATEWAY = "http://127.0.0.1:8080"


class GatewayClient:
    """One gateway, one set of credentials; use as a context manager."""

    def __init__(
        self,
        gateway: str = DEFAULT_GATEWAY,
        auth: tuple[str, str] | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.gateway = gateway.rstrip("/")
        self._http = httpx.Client(
            base_url=self.gateway,
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=10.0),
            headers={"user-agent": "faas-cli"},
        )

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._http.close()

    # The management API.

    def list_functions(self) -> list[dict[str, Any]]:
        """`GET /system/functions`."""
        return cast(list[dict[str, Any]], self._json("GET", "/system/functions"))

    def describe(self, name: str) -> dict[str, Any]:
        """`GET /system/function/{name}`."""
        return cast(dict[str, Any], self._json("GET", f"/system/function/{_path(name)}"))

    def deploy(self, deployment: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /system/functions`."""
        return cast(dict[str, Any], self._json("POST", "/system/functions", deployment))

    def update(self, deployment: Mapping[str, Any]) -> dict[str, Any]:
        """`PUT /system/functions` (a rolling update)."""
        return cast(dict[str, Any], self._json("PUT", "/system/functions", deployment))

    def remove(self, name: str) -> dict[str, Any]:
        """`DELETE /system/functions`."""
        return cast(
            dict[str, Any], self._json("DELETE", "/system/functions", {"functionName": name})
        )

    def set_traffic(self, name: str, weights: Mapping[str, int]) -> dict[str, Any]:
        """`PUT /system/functions/{name}/traffic`."""
        path = f"/system/functions/{_path(name)}/traffic"
        return cast(dict[str, Any], self._json("PUT", path, weights))

    def promote(self, name: str, version: str) -> dict[str, Any]:
        """`POST /system/functions/{name}/promote`."""
        path = f"/system/functions/{_path(name)}/promote"
        return cast(dict[str, Any], self._json("POST", path, {"version": version}))

    def rollback(self, name: str) -> dict[str, Any]:
        """`POST /system/functions/{name}/rollback`."""
        return cast(dict[str, Any], self._json("POST", f"/system/functions/{_path(name)}/rollback"))

    def canary(self, name: str, request: Mapping[str, Any] | None) -> dict[str, Any]:
        """`POST /system/functions/{name}/canary` (None: `DELETE`, stop it)."""
        path = f"/system/functions/{_path(name)}/canary"
        if request is None:
            return cast(dict[str, Any], self._json("DELETE", path))
        return cast(dict[str, Any], self._json("POST", path, request))

    def scale(self, name: str, replicas: int) -> dict[str, Any]:
        """`POST /system/scale-function/{name}`."""
        return cast(
            dict[str, Any],
            self._json("POST", f"/system/scale-function/{_path(name)}", {"replicas": replicas}),
        )

    def logs(
        self, name: str, *, tail: int | None = None, since: str | None = None, follow: bool = False
    ) -> Iterator[dict[str, Any]]:
        """`GET /system/logs`: log records, oldest first; with `follow`, until interrupted."""
        params: dict[str, str] = {"name": name, "follow": "true" if follow else "false"}
        if tail is not None:
            params["tail"] = str(tail)
        if since is not None:
            params["since"] = since
        # A followed log may stay quiet for any time: no read timeout.
        timeout = self._http.timeout
        if follow:
            timeout = httpx.Timeout(None, connect=timeout.connect)
        with self._connection_errors():
            request = self._http.build_request(
                "GET", "/system/logs", params=params, timeout=timeout
            )
            reply = self._http.send(request, stream=True)
            try:
                if reply.status_code >= 400:
                    reply.read()
                    self._raise_for_status(reply)
                for line in reply.iter_lines():
                    if line:
                        yield cast(dict[str, Any], json.loads(line))
            finally:
                reply.close()

    def info(self) -> dict[str, Any]:
        """`GET /system/info`."""
        return cast(dict[str, Any], self._json("GET", "/system/info"))

    def invoke(
        self,
        name: str,
        body: bytes,
        method: str = "POST",
        headers: Mapping[str, str] = {},
        *,
        queued: bool = False,
    ) -> httpx.Response:
        """Call the function through `/function/{name}` (`queued`: `/async-function/{name}`,
        answered 202 with its `X-Call-Id`); any status is returned, not raised."""
        prefix = "/async-function/" if queued else "/function/"
        with self._connection_errors():
            return self._http.request(
                method, f"{prefix}{_path(name)}", content=body, headers=dict(headers)
            )

    def async_status(self, call_id: str) -> dict[str, Any]:
        """`GET /system/async/{call_id}`: an async call's state and result."""
        return cast(dict[str, Any], self._json("GET", f"/system/async/{_path(call_id)}"))

    def dead_letters(self, limit: int = 100) -> dict[str, Any]:
        """`GET /system/async/dlq`: the dead-lettered calls, oldest first."""
        return cast(dict[str, Any], self._json("GET", f"/system/async/dlq?limit={limit}"))

    def dead_letter(self, call_id: str) -> dict[str, Any]:
        """`GET /system/async/dlq/{call_id}`: one dead-lettered call with its request."""
        return cast(dict[str, Any], self._json("GET", f"/system/async/dlq/{_path(call_id)}"))

    def redrive(self, call_id: str | None) -> dict[str, Any]:
        """Queue one dead-lettered call again (None: all of them)."""
        path = (
            f"/system/async/dlq/{_path(call_id)}/redrive"
            if call_id
            else "/system/async/dlq/redrive"
        )
        return cast(dict[str, Any], self._json("POST", path))

    def purge_dead_letters(self, call_id: str | None) -> dict[str, Any]:
        """Drop one dead-lettered call (None: all of them)."""
        path = f"/system/async/dlq/{_path(call_id)}" if call_id else "/system/async/dlq"
        return cast(dict[str, Any], self._json("DELETE", path))

    def triggers(self) -> dict[str, Any]:
        """`GET /system/triggers`: every function's triggers, with the next runs."""
        return cast(dict[str, Any], self._json("GET", "/system/triggers"))

    def fire(self, name: str, trigger: str | None) -> dict[str, Any]:
        """`POST /system/triggers/{name}/fire`: one async call as the trigger makes it."""
        query = f"?trigger={_path(trigger)}" if trigger else ""
        return cast(
            dict[str, Any], self._json("POST", f"/system/triggers/{_path(name)}/fire{query}")
        )

    def _json(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        with self._connection_errors():
            reply = self._http.request(method, path, json=body)
        self._raise_for_status(reply)
        try:
            return reply.json()
        except ValueError:
            raise ApiError(
                f"the gateway answered {reply.status_code} without JSON: {reply.text[:200]!r}",
                reply.status_code,
            ) from None

    def _raise_for_status(self, reply: httpx.Response) -> None:
        if reply.status_code == 401 and self._http.auth is None:
            raise Unauthorized(
                f"the gateway at {self.gateway} needs credentials: set --password-file or "
                "FAAS_PASSWORD_FILE (make up writes secrets/basic-auth-password)"
            )
        if reply.status_code == 401:
            raise Unauthorized(
                f"the gateway at {self.gateway} refused the credentials "
                "(set --user/--password-file, or FAAS_USER and FAAS_PASSWORD_FILE)"
            )
        if reply.status_code >= 400:
            raise ApiError(_error_message(reply), reply.status_code)

    @contextmanager
    def _connection_errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as error:
            raise GatewayUnreachable(
                f"the gateway at {self.gateway} did not answer in time ({type(error).__name__})"
            ) from None
        except (httpx.TransportError, OSError) as error:
            raise GatewayUnreachable(
                f"cannot reach the gateway at {self.gateway}: {error or type(error).__name__} "
                "(is it running? set --gateway or FAAS_GATEWAY)"
            ) from None


def _path(name: str) -> str:
    return quote(name, safe="")


def _error_message(reply: httpx.Response) -> str:
    try:
        message = reply.json().get("error")
    except (ValueError, AttributeError):
        message = None
    text = message if isinstance(message, str) else reply.text.strip()[:300]
    return f"{text or reply.reason_phrase} (HTTP {reply.status_code})"
