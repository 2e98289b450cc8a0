"""Membership numbers: <PREFIX>-<YEAR>-<NNNN>, issued in the approving transaction.

A counter row per (prefix, year) is locked and incremented in the same transaction as the member's
update, so a rolled-back approval gives its number back and numbers have no gaps; a PostgreSQL
sequence would leave gaps. The UNIQUE constraint on Member.membership_number is the backstop.
The padding is a minimum width: 9999 is followed by 10000, never by a truncated 0000.
"""

from django.db import transaction

from .models import MembershipNumberCounter


def format_membership_number(prefix: str, year: int, value: int) -> str:
    return f"{prefix}-{year}-{value:04d}"


def next_membership_number(*, prefix: str, year: int) -> str:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("next_membership_number must run inside the transaction that uses the number.")
    # The first number of a year: create the row without racing another approver (ON CONFLICT DO NOTHING).
    MembershipNumberCounter.objects.bulk_create(
        [MembershipNumberCounter(prefix=prefix, year=year, last_value=0)], ignore_conflicts=True
    )
    counter = MembershipNumberCounter.objects.select_for_update().get(prefix=prefix, year=year)
    counter.last_value += 1
    counter.save(update_fields=["last_value"])
    return format_membership_number(prefix, year, counter.last_value)
