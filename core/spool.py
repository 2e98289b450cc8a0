"""A durable spool on local disk: records kept when the database cannot take them, until it can.

One JSON file per record, written to a hidden temporary name, fsync'd, renamed into place and the
directory fsync'd: a file with a final name is always complete, and it survives a crash or power loss
once `put` has returned. Nothing here needs the database or Redis, so it works when both are down.

File names start with the time written (nanoseconds), so `entries()` lists records oldest first; the
name without `.json` is the record's id, unique, for the consumer to store and so replay a file twice
without doubling anything. A record that can never be used is moved to `quarantine/` for a human.
The directory is created 0700 and files 0600: records may hold personal data (a payer's phone number).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".json"
QUARANTINE = "quarantine"


class SpoolFull(Exception):
    """The spool already holds its maximum number of records."""


@dataclass(frozen=True)
class SpoolEntry:
    id: str
    path: Path

    @property
    def written_at(self) -> float:
        """When the record was written (seconds since the epoch), from its name (else the file's time)."""
        try:
            return int(self.id.split("-", 1)[0]) / 1e9
        except ValueError:
            return self.path.stat().st_mtime


@dataclass(frozen=True)
class SpoolStats:
    depth: int
    oldest_seconds: int | None
    quarantined: int


class Spool:
    def __init__(self, directory: str | os.PathLike, *, max_entries: int = 0):
        self.directory = Path(directory)
        self.max_entries = max_entries

    def put(self, record: dict) -> str:
        """Write `record` durably; returns its id. Raises OSError or SpoolFull: then nothing was kept."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.max_entries and len(self.entries()) >= self.max_entries:
            raise SpoolFull(f"{self.max_entries} records already wait in {self.directory}")
        spool_id = f"{time.time_ns():020d}-{uuid.uuid4().hex}"
        data = json.dumps({**record, "spool_id": spool_id}, ensure_ascii=True).encode()
        temporary = self.directory / f".{spool_id}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                written = 0
                while written < len(data):
                    written += os.write(descriptor, data[written:])
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.rename(temporary, self.directory / f"{spool_id}{SUFFIX}")
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        self._sync_directory(self.directory)
        return spool_id

    def entries(self) -> list[SpoolEntry]:
        """The records waiting, oldest first (temporary files of writes in progress are not records)."""
        try:
            names = [
                entry.name
                for entry in os.scandir(self.directory)
                if entry.name.endswith(SUFFIX) and not entry.name.startswith(".") and entry.is_file()
            ]
        except FileNotFoundError:
            return []
        return [SpoolEntry(id=name[: -len(SUFFIX)], path=self.directory / name) for name in sorted(names)]

    def read(self, entry: SpoolEntry) -> dict:
        """The record; raises ValueError for a file that is not a JSON object, OSError when unreadable."""
        record = json.loads(entry.path.read_bytes())
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        return record

    def remove(self, entry: SpoolEntry) -> None:
        entry.path.unlink(missing_ok=True)
        self._sync_directory(self.directory)

    def quarantine(self, entry: SpoolEntry) -> Path:
        """Move a record that can never be used out of the way, for a human to look at."""
        target = self.directory / QUARANTINE
        target.mkdir(mode=0o700, exist_ok=True)
        destination = target / entry.path.name
        os.rename(entry.path, destination)
        self._sync_directory(self.directory)
        return destination

    def stats(self, *, now: float | None = None) -> SpoolStats:
        entries = self.entries()
        now = time.time() if now is None else now
        oldest = max(0, int(now - entries[0].written_at)) if entries else None
        try:
            quarantined = sum(1 for name in os.listdir(self.directory / QUARANTINE) if name.endswith(SUFFIX))
        except FileNotFoundError:
            quarantined = 0
        return SpoolStats(depth=len(entries), oldest_seconds=oldest, quarantined=quarantined)

    @staticmethod
    def _sync_directory(directory: Path) -> None:
        # The rename (or unlink) is durable only once the directory itself is on disk.
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
