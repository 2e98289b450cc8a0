"""Daraja-shaped identifiers, and the controllable clock they are stamped with.

Shapes follow daraja.md §3.2 and §12.1. Clients must treat them as opaque strings; they look real so
that column widths, indexes and log parsing are exercised with realistic values.
"""

from __future__ import annotations

import random
import string
import threading
import time
from datetime import datetime, timedelta, timezone

# Daraja stamps everything in Nairobi time; Kenya has no daylight saving, so a fixed offset is exact.
EAT = timezone(timedelta(hours=3), "EAT")

_HEX = "0123456789abcdef"
_ALNUM_UPPER = string.ascii_uppercase + string.digits
_ALNUM = string.ascii_letters + string.digits
_DAY_CHARS = "123456789ABCDEFGHIJKLMNOPQRSTUV"  # day 1..31


def parse_start_time(value: str | datetime | None) -> float | None:
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=EAT)
    return moment.timestamp()


class Clock:
    """Wall-clock time plus an offset that tests can advance; optionally frozen.

    Token expiry, prompt expiry and scheduled callbacks all read this clock, so advancing it by 3600 s
    expires tokens and advancing it by 90 s expires manual prompts, without waiting.
    """

    def __init__(self, start_time: str | datetime | None = None, frozen: bool = False):
        self._lock = threading.Lock()
        self._listeners: list = []
        self.reset(start_time, frozen)

    def reset(self, start_time: str | datetime | None = None, frozen: bool = False) -> None:
        start = parse_start_time(start_time)
        with self._lock:
            self._frozen = frozen
            self._frozen_at = start if start is not None else time.time()
            self._offset = 0.0 if start is None else start - time.time()
        self._notify()

    def on_change(self, listener) -> None:
        self._listeners.append(listener)

    def time(self) -> float:
        with self._lock:
            if self._frozen:
                return self._frozen_at
            return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), EAT)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._offset += seconds
            self._frozen_at += seconds
        self._notify()
        return self.now()

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()


class IdFactory:
    """Makes every random-looking value; seeded, the same calls give the same values."""

    def __init__(self, seed: int | None = None):
        self.reseed(seed)

    def reseed(self, seed: int | None) -> None:
        # Not for secrets: these are fake Daraja ids. Seeded runs must be reproducible.
        self._rng = random.Random(seed) if seed is not None else random.SystemRandom()  # noqa: S311

    def random(self) -> float:
        return self._rng.random()

    def choice(self, seq):
        return self._rng.choice(seq)

    def _chars(self, alphabet: str, length: int) -> str:
        return "".join(self._rng.choice(alphabet) for _ in range(length))

    def hex_group_id(self) -> str:
        """Newer MerchantRequestID / requestId shape, e.g. ``f1e2-4b95-a71d-b30d3cdbb7a7942864``."""
        digits = self._chars(string.digits, self._rng.randint(4, 7))
        return f"{self._chars(_HEX, 4)}-{self._chars(_HEX, 4)}-{self._chars(_HEX, 4)}-{self._chars(_HEX, 12)}{digits}"

    def originator_conversation_id(self) -> str:
        """Older numeric shape seen on C2B registration, e.g. ``7619-37765134-1``."""
        return f"{self._rng.randint(1000, 99999)}-{self._rng.randint(10_000_000, 99_999_999)}-1"

    def access_token(self) -> str:
        return self._chars(_ALNUM, 28)

    def checkout_request_id(self, moment: datetime, msisdn: str) -> str:
        """``ws_CO_`` + ddMMyyyyHHmmss (EAT) + 3-digit milliseconds + last 9 digits of the MSISDN."""
        local = moment.astimezone(EAT)
        return f"ws_CO_{local:%d%m%Y%H%M%S}{local.microsecond // 1000:03d}{msisdn[-9:]}"

    def receipt_number(self, moment: datetime) -> str:
        """10 uppercase characters; real receipts appear to start with year, month and day letters."""
        local = moment.astimezone(EAT)
        year = chr(ord("L") + min(max(local.year - 2017, 0), 14))  # L=2017 ... U=2026, capped at Z
        month = chr(ord("A") + local.month - 1)
        day = _DAY_CHARS[local.day - 1]
        return f"{year}{month}{day}{self._chars(_ALNUM_UPPER, 7)}"
