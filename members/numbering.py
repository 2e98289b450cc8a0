"""Membership numbers: <PREFIX>-<YEAR>-<NNNN>, issued in the approving transaction (core.sequences)."""

from core.sequences import format_sequence_number, next_number

WIDTH = 4


def format_membership_number(prefix: str, year: int, value: int) -> str:
    return format_sequence_number(prefix, year, value, WIDTH)


def next_membership_number(*, prefix: str, year: int) -> str:
    return next_number(prefix=prefix, year=year, width=WIDTH)
