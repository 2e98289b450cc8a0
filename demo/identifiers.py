"""Unique values derived from a row's primary key: phones, ID numbers, M-Pesa receipts.

Each is a bijection k -> value below its modulus, so two generated rows never collide and a second run (with
later ids) never collides with the first. TakenValues steps around values that hand-made rows already hold.
"""

from __future__ import annotations

import datetime
import math

# Safaricom prefixes (phonenumbers' carrier data): 07XX and 011X numbers, all valid mobiles.
SAFARICOM_PREFIXES = tuple(
    [f"7{n:02d}" for n in range(0, 30)]
    + ["740", "741", "742", "743", "745", "746", "748", "749", "757", "758", "759", "768", "769"]
    + [f"79{n}" for n in range(10)]
    + [f"11{n}" for n in range(10)]
)

# Bijections k -> value (k = the row's primary key): unique for every k below the modulus.
PHONE_SPACE = len(SAFARICOM_PREFIXES) * 1_000_000
ID_SPACE = 40_000_000  # national ID numbers 1,000,000 - 40,999,999 (7 and 8 digits)
PASSPORT_SPACE = 26 * 26 * 10_000_000  # AB1234567
ALIEN_SPACE = 90_000_000  # 8 digits
MPESA_SPACE = 36**7  # the 7 characters after an M-Pesa receipt's date code
BASE36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _multiplier(space: int, near: float) -> int:
    """A multiplier coprime with `space` near `near * space`: x -> (a*x + b) % space is then a bijection."""
    a = int(space * near) | 1
    while math.gcd(a, space) != 1:
        a += 2
    return a


PHONE_A = _multiplier(PHONE_SPACE, 0.6180339)
ID_A = _multiplier(ID_SPACE, 0.4142135)
PASSPORT_A = _multiplier(PASSPORT_SPACE, 0.7320508)
ALIEN_A = _multiplier(ALIEN_SPACE, 0.2360679)
MPESA_A = _multiplier(MPESA_SPACE, 0.5772156)


def phone_for(k: int) -> str:
    x = (PHONE_A * k + 7_654_321) % PHONE_SPACE
    prefix, rest = divmod(x, 1_000_000)
    return f"254{SAFARICOM_PREFIXES[prefix]}{rest:06d}"


def national_id_for(k: int) -> str:
    return str(1_000_000 + (ID_A * k + 12_345_678) % ID_SPACE)


def passport_for(k: int) -> str:
    x = (PASSPORT_A * k + 98_765) % PASSPORT_SPACE
    letters, digits = divmod(x, 10_000_000)
    return f"{BASE36[10 + letters // 26]}{BASE36[10 + letters % 26]}{digits:07d}"


def alien_id_for(k: int) -> str:
    return str(10_000_000 + (ALIEN_A * k + 4_321) % ALIEN_SPACE)


class TakenValues:
    """Phones and ID numbers that rows already in the table hold, as the ids k whose derived value they are
    (the bijections inverted). A member of this run whose id is `in_run` takes a value from the far end of
    the space instead, skipping the far-end ids that are `far` (taken there already)."""

    SPACES = {"phone": PHONE_SPACE, "national_id": ID_SPACE, "passport": PASSPORT_SPACE, "alien_id": ALIEN_SPACE}
    DERIVE = {
        "phone": lambda k: phone_for(k),
        "national_id": lambda k: national_id_for(k),
        "passport": lambda k: passport_for(k),
        "alien_id": lambda k: alien_id_for(k),
    }

    def __init__(self, first: int, count: int):
        self.first, self.last = first, first + count
        self.in_run = {kind: set() for kind in self.SPACES}
        self.far = {kind: set() for kind in self.SPACES}
        self.found = 0

    def add(self, kind: str, value: str) -> None:
        k = _inverse(kind, value)
        if k is None:
            return
        if self.first <= k < self.last:
            self.in_run[kind].add(k)
            self.found += 1
        if k >= self.SPACES[kind] // 2:
            self.far[kind].add(k)

    def value(self, kind: str, k: int) -> str:
        if k not in self.in_run[kind]:
            return self.DERIVE[kind](k)
        space, far = self.SPACES[kind], self.far[kind]
        candidate = space - 1 - k
        while candidate in far:
            candidate -= 1
        far.add(candidate)
        return self.DERIVE[kind](candidate)


_PREFIX_INDEX = {prefix: i for i, prefix in enumerate(SAFARICOM_PREFIXES)}


def _inverse(kind: str, value: str) -> int | None:
    """The k with <kind>_for(k) == value, or None when no k gives it."""
    value = value or ""
    if kind == "phone":
        if len(value) != 12 or not value.startswith("254") or not value.isdigit():
            return None
        index = _PREFIX_INDEX.get(value[3:6])
        if index is None:
            return None
        x, a, b, space = index * 1_000_000 + int(value[6:]), PHONE_A, 7_654_321, PHONE_SPACE
    elif kind == "national_id":
        if not value.isdigit() or not 1_000_000 <= int(value) < 1_000_000 + ID_SPACE or value[0] == "0":
            return None
        x, a, b, space = int(value) - 1_000_000, ID_A, 12_345_678, ID_SPACE
    elif kind == "passport":
        if len(value) != 9 or not value[:2].isalpha() or not value[:2].isupper() or not value[2:].isdigit():
            return None
        letters = (ord(value[0]) - 65) * 26 + ord(value[1]) - 65
        x, a, b, space = letters * 10_000_000 + int(value[2:]), PASSPORT_A, 98_765, PASSPORT_SPACE
    else:
        if not value.isdigit() or not 10_000_000 <= int(value) < 10_000_000 + ALIEN_SPACE or value[0] == "0":
            return None
        x, a, b, space = int(value) - 10_000_000, ALIEN_A, 4_321, ALIEN_SPACE
    return (x - b) * pow(a, -1, space) % space


def mpesa_receipt_for(k: int, day: datetime.date) -> str:
    """SFK3X8Y2ZQ-like: year letter (2019 = N ... 2024 = S), month letter (A = January), day (1-9, A-V),
    then seven characters that are unique per payment id."""
    x = (MPESA_A * k + 1_000_003) % MPESA_SPACE
    tail = []
    for _ in range(7):
        x, digit = divmod(x, 36)
        tail.append(BASE36[digit])
    year = chr(ord("N") + (day.year - 2019) % 13)
    return f"{year}{BASE36[9 + day.month]}{BASE36[day.day]}{''.join(tail)}"


def base36(value: int, width: int) -> str:
    out = []
    for _ in range(width):
        value, digit = divmod(value, 36)
        out.append(BASE36[digit])
    return "".join(reversed(out))
