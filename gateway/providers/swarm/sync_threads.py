"""`SyncThreads`: the discovery's two daemon threads and the queue between them.

One thread follows the engine's service events and queues them. The other applies them
(`apply_event`, which re-reads the service, so a late or duplicate event is harmless). It
does a full sync (`full_sync`) every `resync_interval` seconds, whenever the events stream
reconnects, and for each refresh a management read asks for. Refreshes queued together
share one full sync. Failures are retried with a backoff from `_RETRY_MIN` to `_RETRY_MAX`
seconds. The events thread, the periodic resync, the refreshes and the engine's up/down
state share the one queue, so the second thread is the only one that syncs after
`start()`. Neither thread ever runs on the event loop or the request path.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import docker
from docker.types.daemon import CancellableStream

from gateway.providers.swarm.engine import close_quietly
from gateway.providers.swarm.services import ENGINE_ERRORS

log = logging.getLogger("gateway.swarm")

_RETRY_MIN = 0.5
_RETRY_MAX = 5.0
_JOIN_TIMEOUT = 5.0
# How long a management read waits for its refresh before answering from the view.
_REFRESH_TIMEOUT = 10.0

_Event = dict[str, Any]


class _Signal(enum.Enum):
    RESYNC = "resync"
    STOP = "stop"


# A read that must see every write made before it: a full sync on the sync thread, done
# when the future is (True: synced; False: the engine failed, the view is as it was).
_SyncNow = concurrent.futures.Future


class SyncThreads:
    """Runs `full_sync` and `apply_event` (each True when the engine answered) on one
    thread, fed by the service events `client()` streams on another (see the module
    docstring); `engine` names the engine in the log."""

    def __init__(
        self,
        full_sync: Callable[[], bool],
        apply_event: Callable[[Mapping[str, Any]], bool],
        client: Callable[[], docker.DockerClient],
        engine: str,
        resync_interval: float,
    ) -> None:
        self._full_sync = full_sync
        self._apply_event = apply_event
        self._client = client
        self._engine = engine
        self.resync_interval = resync_interval
        self._queue: queue.SimpleQueue[_Signal | _Event | _SyncNow[bool]] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._stream: CancellableStream[_Event] | None = None
        self._stream_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._synced = False

    @property
    def stopped(self) -> bool:
        """Whether `stop()` was called."""
        return self._stopping.is_set()

    async def start(self) -> None:
        """Open the events stream and sync once (on a worker thread), then start both
        threads; once only, and never after `stop()`."""
        if self._threads or self._stopping.is_set():
            return
        await asyncio.to_thread(self._bootstrap)
        self._threads = [
            threading.Thread(target=self._work, name="swarm-sync", daemon=True),
            threading.Thread(target=self._follow_events, name="swarm-events", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    async def stop(self) -> None:
        """Stop both threads, closing the events stream; a thread still busy with the
        engine after `_JOIN_TIMEOUT` seconds is left (logged)."""
        self._stopping.set()
        self._queue.put(_Signal.STOP)
        with self._stream_lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            await asyncio.to_thread(close_quietly, stream)
        for thread in self._threads:
            await asyncio.to_thread(thread.join, _JOIN_TIMEOUT)
            if thread.is_alive():
                log.warning("thread %s still busy with the Docker engine; leaving it", thread.name)

    async def refresh(self) -> None:
        """A full sync on the sync thread, waited for at most `_REFRESH_TIMEOUT` seconds
        (nothing before `start()` or after `stop()`)."""
        if not self._threads or self._stopping.is_set():
            return
        done: _SyncNow[bool] = concurrent.futures.Future()
        self._queue.put(done)
        try:
            await asyncio.wait_for(asyncio.wrap_future(done), _REFRESH_TIMEOUT)
        except TimeoutError:
            log.warning("a refresh from %s took over %gs; answering from the view as it is",
                        self._engine, _REFRESH_TIMEOUT)  # fmt: skip

    def put(self, event: _Event) -> None:
        """Have the sync thread apply `event` (an engine event, or one made up alike)."""
        self._queue.put(event)

    def _bootstrap(self) -> None:
        # The stream opens first so that nothing can change unseen between it and the sync.
        self._open_stream()
        self._synced = self._full_sync()

    def _work(self) -> None:
        retry = _RETRY_MIN
        next_sync = time.monotonic() + (self.resync_interval if self._synced else retry)
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, next_sync - time.monotonic()))
            except queue.Empty:
                item = _Signal.RESYNC
            if item is _Signal.STOP:
                return
            try:
                if isinstance(item, concurrent.futures.Future):
                    waiting, stop = self._take_queued(item)
                    ok = False
                    try:
                        ok = self._full_sync()
                    finally:
                        for future in waiting:
                            future.set_result(ok)
                    if stop:
                        return
                else:
                    ok = self._full_sync() if item is _Signal.RESYNC else self._apply_event(item)
            except Exception:
                log.exception("unexpected error while syncing with %s", self._engine)
                ok = False
            if ok and item is _Signal.RESYNC:
                retry = _RETRY_MIN
                next_sync = time.monotonic() + self.resync_interval
            elif not ok:
                next_sync = time.monotonic() + min(retry, self.resync_interval)
                retry = min(retry * 2, _RETRY_MAX)

    def _take_queued(self, first: _SyncNow[bool]) -> tuple[list[_SyncNow[bool]], bool]:
        """Every refresh already queued behind `first`, to be answered by one full sync
        (a burst of management writes costs one listing, not one each), and whether a
        stop was queued. The events and resyncs taken with them are what that sync reads
        anyway."""
        waiting, stop = [first], False
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return waiting, stop
            if isinstance(item, concurrent.futures.Future):
                waiting.append(item)
            elif item is _Signal.STOP:
                stop = True

    def _follow_events(self) -> None:
        retry = _RETRY_MIN
        with self._stream_lock:
            stream = self._stream
        while not self._stopping.is_set():
            if stream is None:
                stream = self._open_stream()
                if stream is None:
                    self._stopping.wait(retry)
                    retry = min(retry * 2, _RETRY_MAX)
                    continue
                log.info("following service events from %s", self._engine)
                self._queue.put(_Signal.RESYNC)  # for whatever happened while disconnected
                retry = _RETRY_MIN
            try:
                for event in stream:
                    self._queue.put(event)
            except ENGINE_ERRORS as exc:
                log.debug("events stream failed: %s", exc)
            close_quietly(stream)
            stream = None
            if not self._stopping.is_set():
                log.warning("lost the service events stream from %s; reconnecting", self._engine)
                self._queue.put(_Signal.RESYNC)  # so that status() soon tells if the engine is gone
                self._stopping.wait(retry)

    def _open_stream(self) -> CancellableStream[_Event] | None:
        try:
            stream = self._client().events(decode=True, filters={"type": "service"})
        except ENGINE_ERRORS as exc:
            log.debug("cannot open the events stream: %s", exc)
            return None
        with self._stream_lock:
            if self._stopping.is_set():
                close_quietly(stream)
                return None
            self._stream = stream
        return stream
