"""Real processes for the outage tests: a private Redis server a test can stop and start again, a Celery
worker on it that a test can kill, and this process's Celery app pointed at that Redis meanwhile.

Nothing here is shared with other tests: each Redis listens on a free port of its own (so stopping it
touches nobody else), and every process is stopped by the caller's `finally`/fixture even when the test fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

from config.celery import app as celery_app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(condition, *, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Gave up after {timeout} s waiting for {what}.")


class RedisServer:
    """A throw-away redis-server on 127.0.0.1:<free port>, no persistence; `stop()` and `start()` again keep
    the port, as a Redis restart would."""

    def __init__(self, workdir: Path):
        self.binary = shutil.which("redis-server")
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, timeout=10, what=f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@contextmanager
def celery_publishing_to(broker_url: str):
    """This process's Celery app publishes to `broker_url`, for real (not eager), until the block ends."""
    conf = celery_app.conf
    saved = conf.broker_url, conf.task_always_eager

    def drop_pools():
        # The producer pool holds connections to the broker it was made for.
        celery_app._pool = None
        celery_app.__dict__.get("amqp") and setattr(celery_app.amqp, "_producer_pool", None)

    conf.broker_url, conf.task_always_eager = broker_url, False
    drop_pools()
    try:
        yield
    finally:
        conf.broker_url, conf.task_always_eager = saved
        drop_pools()


class CeleryWorker:
    """`celery -A config worker --pool solo` in a subprocess, on `broker_url`, with this test's database.
    Its log goes to a file (never a pipe it could fill and block on)."""

    def __init__(self, *, broker_url: str, workdir: Path, name: str, env: dict[str, str] | None = None):
        database = connection.settings_dict
        self.log_path = workdir / f"{name}.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
            "CELERY_BROKER_URL": broker_url,
            "REDIS_URL": broker_url,  # its cache too: stopping this Redis is the whole outage
            "CELERY_RESULT_BACKEND": "",
            "CELERY_TASK_ALWAYS_EAGER": "False",
            **(env or {}),
        }
        self.name = f"{name}-{os.getpid()}@localhost"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(  # noqa: S603 - our own Celery app
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "solo",
                "-l",
                "info",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                self.name,
            ],
            cwd=settings.BASE_DIR,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: " ready." in self.log() or self.process.poll() is not None, timeout=30, what="the worker")
        assert self.process.poll() is None, f"the worker did not start:\n{self.log()}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no shutdown, no acknowledgement, no rollback by the worker itself."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self._log.close()
