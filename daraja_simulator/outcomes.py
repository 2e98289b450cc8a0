"""What happens after an STK push: result codes, their wording, and the phone-number table that picks one.

The table is keyed by the LAST THREE DIGITS of the PhoneNumber, so any realistic number works and a
test reads as the story it tells (``PHONE_CANCELLED`` ends in 032 because the code is 1032). Numbers whose
ending is not listed get the configured default outcome (success unless configured otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

# Codes from daraja.md §6. The callback and the query word some codes differently; 1037 is the one seen
# first hand ("No response from user." in the callback, "DS timeout user cannot be reached." in the query).
RESULT_DESCRIPTIONS: dict[int | str, tuple[str, str]] = {
    0: ("The service request is processed successfully.", "The service request is processed successfully."),
    1: ("The balance is insufficient for the transaction.", "The balance is insufficient for the transaction."),
    2: ("Declined due to limit rule: less than the minimum transaction amount.",) * 2,
    3: ("Declined due to limit rule: greater than the maximum transaction amount.",) * 2,
    4: ("Declined due to limit rule: would exceed daily transfer limit.",) * 2,
    8: ("Declined due to limit rule: would exceed the maximum balance.",) * 2,
    17: ("Rule limited.", "Rule limited."),
    26: ("System busy. Traffic blocking condition in place", "System busy. Traffic blocking condition in place"),
    1001: ("Unable to lock subscriber, a transaction is already in process for the current subscriber",) * 2,
    1019: ("Transaction has expired.", "Transaction has expired."),
    1025: ("An error occurred while sending a push request.",) * 2,
    # The 9999 wording is unconfirmed (daraja.md §13); sources only say it is "similar to 1025".
    9999: ("An error occurred while sending a push request.",) * 2,
    1032: ("Request cancelled by user", "Request cancelled by user"),
    1037: ("No response from user.", "DS timeout user cannot be reached."),
    2001: ("The initiator information is invalid.", "The initiator information is invalid."),
    2028: ("The request is not permitted according to product assignment.",) * 2,
    8006: ("The security credential is locked.", "The security credential is locked."),
    "SFC_IC0003": ("The operator does not exist.", "The operator does not exist."),
}

# A code Daraja never documented, for "unknown codes must never count as paid" tests.
UNKNOWN_RESULT_CODE = 7777
UNKNOWN_RESULT_DESC = "Failed due to an unresolved reason type."


def normalise_result_code(value: object) -> int | str:
    """Accept 1032, "1032" or "SFC_IC0003"; numeric codes become ints (the callback's type)."""
    if isinstance(value, bool):
        raise ValueError("result_code must be a number or a code string, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        return text
    raise ValueError(f"result_code must be a number or a code string, got {value!r}")


def describe(result_code: int | str) -> tuple[str, str]:
    """(callback ResultDesc, query ResultDesc) for a code; unknown codes get Daraja's catch-all wording."""
    return RESULT_DESCRIPTIONS.get(result_code, (UNKNOWN_RESULT_DESC, UNKNOWN_RESULT_DESC))


@dataclass(frozen=True)
class Outcome:
    """How one STK push ends.

    ``deliver`` False is the lost notification: the transaction completes (the query reports it) but no
    callback is ever sent. ``manual`` leaves the prompt open until it is resolved through the control API
    or the phone page, or until it expires to 1037.
    """

    name: str
    result_code: int | str = 0
    deliver: bool = True
    manual: bool = False

    @property
    def is_timeout(self) -> bool:
        return self.result_code == 1037


SUCCESS = Outcome("success", 0)
NO_CALLBACK = Outcome("no_callback", 0, deliver=False)
MANUAL = Outcome("manual", manual=True)

# Names accepted wherever an outcome can be chosen (config default_outcome, next-outcome, resolve).
NAMED_OUTCOMES: dict[str, Outcome] = {
    "success": SUCCESS,
    "no_callback": NO_CALLBACK,
    "manual": MANUAL,
    "insufficient_funds": Outcome("insufficient_funds", 1),
    "cancelled": Outcome("cancelled", 1032),
    "wrong_pin": Outcome("wrong_pin", 2001),
    "timeout": Outcome("timeout", 1037),
    "unknown_code": Outcome("unknown_code", UNKNOWN_RESULT_CODE),
}

# Last three digits of PhoneNumber -> outcome. Keep endings unique; the README shows this table.
PHONE_OUTCOMES: dict[str, Outcome] = {
    "000": SUCCESS,
    "001": Outcome("insufficient_funds", 1),
    "002": Outcome("below_minimum", 2),
    "003": Outcome("above_maximum", 3),
    "004": Outcome("daily_limit", 4),
    "006": Outcome("pin_locked", 8006),
    "008": Outcome("max_balance", 8),
    "017": Outcome("rule_limited", 17),
    "019": Outcome("expired", 1019),
    "025": Outcome("push_error", 1025),
    "026": Outcome("system_busy", 26),
    "028": Outcome("product_assignment", 2028),
    "032": Outcome("cancelled", 1032),
    "037": Outcome("timeout", 1037),
    "101": Outcome("subscriber_locked", 1001),
    # 254708374149 is the real sandbox test MSISDN: nobody answers it, so it times out (daraja.md §9).
    "149": Outcome("timeout", 1037),
    "201": Outcome("wrong_pin", 2001),
    "303": Outcome("operator_missing", "SFC_IC0003"),
    "404": NO_CALLBACK,
    "555": MANUAL,
    "777": Outcome("unknown_code", UNKNOWN_RESULT_CODE),
    "999": Outcome("push_error_9999", 9999),
}

_BASE = "254712345"
PHONE_SUCCESS = _BASE + "000"
PHONE_SUCCESS_01 = "254112345000"  # Safaricom's newer 2541... numbers must work too
PHONE_INSUFFICIENT = _BASE + "001"
PHONE_BELOW_MINIMUM = _BASE + "002"
PHONE_ABOVE_MAXIMUM = _BASE + "003"
PHONE_DAILY_LIMIT = _BASE + "004"
PHONE_PIN_LOCKED = _BASE + "006"
PHONE_MAX_BALANCE = _BASE + "008"
PHONE_RULE_LIMITED = _BASE + "017"
PHONE_EXPIRED = _BASE + "019"
PHONE_PUSH_ERROR = _BASE + "025"
PHONE_SYSTEM_BUSY = _BASE + "026"
PHONE_PRODUCT_MISMATCH = _BASE + "028"
PHONE_CANCELLED = _BASE + "032"
PHONE_TIMEOUT = _BASE + "037"
PHONE_SUBSCRIBER_LOCKED = _BASE + "101"
SANDBOX_TEST_PHONE = "254708374149"
PHONE_WRONG_PIN = _BASE + "201"
PHONE_OPERATOR_MISSING = _BASE + "303"
PHONE_NO_CALLBACK = _BASE + "404"
PHONE_MANUAL = _BASE + "555"
PHONE_UNKNOWN_CODE = _BASE + "777"
PHONE_PUSH_ERROR_9999 = _BASE + "999"


def outcome_for_phone(phone: str, default: Outcome = SUCCESS) -> Outcome:
    return PHONE_OUTCOMES.get(phone[-3:], default)


def outcome_from_choice(value: object) -> Outcome:
    """An outcome from a control-API value: a name ("manual", "no_callback", ...) or a result code."""
    if isinstance(value, str) and value in NAMED_OUTCOMES:
        return NAMED_OUTCOMES[value]
    code = normalise_result_code(value)
    return Outcome(f"code_{code}", code)
