"""Gapless yearly sequences: <PREFIX>-<YEAR>-<NNNN>.

A counter row per (prefix, year) is locked and incremented in the same transaction as the row that
takes the number, so a rolled-back transaction gives its number back and numbers have no gaps (a
PostgreSQL sequence would leave gaps); the UNIQUE constraint on the numbered column is the backstop.
The padding is a minimum width: 9999 is followed by 10000, never by a truncated 0000.
"""

from django.db import transaction

from .models import YearlyCounter


def format_sequence_number(prefix: str, year: int, value: int, width: int) -> str:
    return f"{prefix}-{year}-{value:0{width}d}"


def next_value(*, prefix: str, year: int) -> int:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("A sequence number must be taken inside the transaction that uses it.")
    # The first number of a year: create the row without racing another taker (ON CONFLICT DO NOTHING).
    YearlyCounter.objects.bulk_create([YearlyCounter(prefix=prefix, year=year, last_value=0)], ignore_conflicts=True)
    counter = YearlyCounter.objects.select_for_update().get(prefix=prefix, year=year)
    counter.last_value += 1
    counter.save(update_fields=["last_value"])
    return counter.last_value


def next_number(*, prefix: str, year: int, width: int) -> str:
    return format_sequence_number(prefix, year, next_value(prefix=prefix, year=year), width)
