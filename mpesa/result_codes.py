"""The one table of M-Pesa Express (STK) result codes.

Callbacks send ``ResultCode`` as an int, the query sends it as a string, and some codes are strings
(``SFC_IC0003``), so every code is handled as a string. Only codes listed here mean anything: ``"0"`` is
the only code that means paid, ``"4999"`` is the only code that means "still in flight", and any code not
in the table is failed-or-unknown (never paid). Source: daraja.md section 6.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Outcome(str, Enum):
    PAID = "paid"
    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True)
class ResultCode:
    code: str
    meaning: str  # for staff and logs
    member_message: str  # plain words for the member who tried to pay
    outcome: Outcome
    terminal: bool  # M-Pesa will not change its answer for this attempt
    retry_later: bool  # a new attempt may succeed later without anyone changing anything
    retry_after_seconds: int = 0  # the wait Daraja asks for before a new attempt, when it names one
    known: bool = True


# Every code in the table, by name; code compares with these, never with a bare "1032".
PAID = "0"
STILL_PROCESSING = "4999"
INSUFFICIENT_BALANCE = "1"
BELOW_MINIMUM_AMOUNT = "2"
ABOVE_MAXIMUM_AMOUNT = "3"
DAILY_LIMIT_EXCEEDED = "4"
RECEIVER_BALANCE_LIMIT = "8"
REPEAT_WITHIN_TWO_MINUTES = "17"
SYSTEM_BUSY = "26"
SUBSCRIBER_LOCKED = "1001"
REQUEST_EXPIRED = "1019"
PUSH_ERROR = "1025"
PUSH_FAILED = "9999"
CANCELLED_BY_USER = "1032"
NO_RESPONSE_FROM_PHONE = "1037"
WRONG_PIN = "2001"
NOT_PERMITTED_FOR_PRODUCT = "2028"
PIN_LOCKED = "8006"
OPERATOR_DOES_NOT_EXIST = "SFC_IC0003"

# The push's and the C2B registration's ResponseCode (not a ResultCode): "0" means Daraja accepted the request.
REQUEST_ACCEPTED = "0"


def _failed(code, meaning, member_message, *, retry_later=False, retry_after_seconds=0):
    return ResultCode(
        code,
        meaning,
        member_message,
        Outcome.FAILED,
        terminal=True,
        retry_later=retry_later,
        retry_after_seconds=retry_after_seconds,
    )


_TABLE = [
    ResultCode(PAID, "Paid.", "Your M-Pesa payment was received.", Outcome.PAID, terminal=True, retry_later=False),
    ResultCode(
        STILL_PROCESSING,
        "Still being processed (query only).",
        "We are still waiting for M-Pesa to confirm your payment.",
        Outcome.PENDING,
        terminal=False,
        retry_later=True,
    ),
    _failed(INSUFFICIENT_BALANCE, "Insufficient balance (including Fuliza).", "Your M-Pesa balance was not enough."),
    _failed(
        BELOW_MINIMUM_AMOUNT,
        "Declined: below the minimum transaction amount.",
        "The amount is below the M-Pesa minimum.",
    ),
    _failed(
        ABOVE_MAXIMUM_AMOUNT,
        "Declined: above the maximum transaction amount.",
        "The amount is above the M-Pesa limit for one payment.",
    ),
    _failed(
        DAILY_LIMIT_EXCEEDED,
        "Declined: would exceed the daily transfer limit.",
        "This payment would go over your daily M-Pesa limit.",
    ),
    _failed(
        RECEIVER_BALANCE_LIMIT,
        "Declined: would exceed the receiving account's maximum balance.",
        "M-Pesa could not take this payment right now. Please contact us.",
    ),
    _failed(
        REPEAT_WITHIN_TWO_MINUTES,
        "Rule limited: same amount to the same customer within 2 minutes.",
        "M-Pesa stopped a repeat payment of the same amount. Please wait two minutes and try again.",
        retry_later=True,
        retry_after_seconds=120,
    ),
    _failed(
        SYSTEM_BUSY,
        "System busy / traffic blocking.",
        "M-Pesa is busy. Please try again in a few minutes.",
        retry_later=True,
        retry_after_seconds=60,
    ),
    _failed(
        SUBSCRIBER_LOCKED,
        "Unable to lock subscriber: another transaction is open on the phone.",
        "Another M-Pesa request is open on your phone. Please close it, wait a minute and try again.",
        retry_later=True,
        retry_after_seconds=60,
    ),
    _failed(
        REQUEST_EXPIRED,
        "Transaction expired before it was processed.",
        "The M-Pesa request expired. Please try again.",
        retry_later=True,
    ),
    _failed(
        PUSH_ERROR,
        "Error sending the push request (prompt too long or a transient fault).",
        "M-Pesa could not send the prompt to your phone. Please try again.",
        retry_later=True,
    ),
    _failed(
        PUSH_FAILED,
        "Error sending the push request.",
        "M-Pesa could not send the prompt to your phone. Please try again.",
        retry_later=True,
    ),
    _failed(CANCELLED_BY_USER, "Request cancelled by the customer.", "You cancelled the M-Pesa prompt."),
    _failed(
        NO_RESPONSE_FROM_PHONE,
        "No response from the customer's phone (DS timeout).",
        "Your phone did not respond in time.",
        retry_later=True,
    ),
    _failed(WRONG_PIN, "Wrong M-Pesa PIN (initiator information invalid).", "The M-Pesa PIN was wrong."),
    _failed(
        NOT_PERMITTED_FOR_PRODUCT,
        "Not permitted by product assignment: TransactionType or PartyB is wrong (paybill/till mix-up).",
        "M-Pesa refused the payment to our account. Please contact us.",
    ),
    _failed(PIN_LOCKED, "The customer's security credential (PIN) is locked.", "Your M-Pesa PIN is locked."),
    _failed(
        OPERATOR_DOES_NOT_EXIST,
        "The operator does not exist: TransactionType or PartyB is wrong (paybill/till mix-up).",
        "M-Pesa refused the payment to our account. Please contact us.",
    ),
]

RESULT_CODES: dict[str, ResultCode] = {entry.code: entry for entry in _TABLE}

UNKNOWN_MEMBER_MESSAGE = "M-Pesa did not confirm the payment."


def normalise_code(code: Any) -> str | None:
    """The code as Daraja's string form: 0 -> "0", " 1032 " -> "1032"; None/blank -> None.

    Booleans and non-integral numbers are kept as their text so they never match a listed code.
    """
    if code is None:
        return None
    if isinstance(code, int) and not isinstance(code, bool):
        return str(code)
    text = str(code).strip()
    return text or None


def lookup(code: Any) -> ResultCode:
    """The table entry for ``code``; an unlisted code gets a failed, not-known entry (never paid)."""
    normalised = normalise_code(code)
    entry = RESULT_CODES.get(normalised) if normalised is not None else None
    if entry is not None:
        return entry
    return ResultCode(
        code=normalised or "",
        meaning="Unlisted result code: failed or unknown.",
        member_message=UNKNOWN_MEMBER_MESSAGE,
        outcome=Outcome.FAILED,
        terminal=True,
        retry_later=False,
        known=False,
    )


def outcome_for(code: Any) -> Outcome:
    return lookup(code).outcome


def is_paid(code: Any) -> bool:
    return outcome_for(code) is Outcome.PAID


def member_message(code: Any) -> str:
    return lookup(code).member_message
