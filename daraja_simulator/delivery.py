"""Background machinery: a clock-driven scheduler and the HTTP POSTs that deliver callbacks."""

from __future__ import annotations

import heapq
import http.client
import itertools
import json
import logging
import ssl
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

from daraja_simulator.ids import Clock

logger = logging.getLogger("daraja_simulator")

RESPONSE_BODY_LIMIT = 4096


class Scheduler:
    """Runs callables when the simulator clock reaches their due time, on one background thread.

    Due times are on the simulator clock, so advancing the clock fires everything it passes (an open
    prompt's 90-second expiry, for instance) without a test having to sleep.
    """

    def __init__(self, clock: Clock):
        self._clock = clock
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._running = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        clock.on_change(self.wake)

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="daraja-sim-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._heap.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None

    def at(self, due: float, fn: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._seq), fn))
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._heap.clear()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def has_due_work(self) -> bool:
        with self._cond:
            return self._running > 0 or bool(self._heap and self._heap[0][0] <= self._clock.time())

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    now = self._clock.time()
                    if self._heap and self._heap[0][0] <= now:
                        break
                    wait = 0.5 if not self._heap else min(max(self._heap[0][0] - now, 0.001), 0.5)
                    self._cond.wait(wait)
                if self._stopping:
                    return
                _, _, fn = heapq.heappop(self._heap)
                self._running += 1
            try:
                fn()
            except Exception:
                logger.exception("Scheduled simulator task failed")
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()


def post_json(url: str, body: object, headers: dict[str, str], timeout: float) -> tuple[int | None, str, str | None]:
    """POST a JSON body; returns (HTTP status or None, response text, error text or None).

    http.client rather than urllib: header names go out exactly as given (Daraja was seen sending
    ``Businessshortcode``), no proxy from the environment is used, and redirects are not followed
    (a 301 from APPEND_SLASH is a failed delivery, not a GET).
    """
    data = json.dumps(body).encode("utf-8")
    try:
        parts = urlsplit(url)
        if parts.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context()
            )
        else:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("POST", target, body=data, headers={**headers, "Content-Length": str(len(data))})
            response = connection.getresponse()
            text = response.read(RESPONSE_BODY_LIMIT).decode("utf-8", "replace")
            return response.status, text, None
        finally:
            connection.close()
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return None, "", f"{type(exc).__name__}: {exc}"


class Workers:
    """Short-lived threads for deliveries, tracked so that stop() leaves none behind."""

    def __init__(self):
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self.stopping = threading.Event()

    def submit(self, fn: Callable[[], None], name: str = "daraja-sim-delivery") -> None:
        def run():
            try:
                fn()
            except Exception:
                logger.exception("Simulator delivery failed")
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def busy(self) -> bool:
        with self._lock:
            return bool(self._threads)

    def join(self, timeout: float) -> None:
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=timeout)
