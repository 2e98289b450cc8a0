"""Parse the STK callback Daraja POSTs to our CallBackURL (daraja.md 4.2 and 4.3).

The callback carries no signature, so a parsed callback is a claim, not proof: callers still check the
CheckoutRequestID is one of ours and the amount is what was asked, and confirm with an STK query.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from mpesa import result_codes
from mpesa.client import EAT
from mpesa.result_codes import Outcome


class MalformedCallback(ValueError):
    """The body is not an STK callback; replaying it will not help."""


@dataclass(frozen=True)
class StkCallback:
    merchant_request_id: str
    checkout_request_id: str
    result_code: str
    result_description: str
    amount: Decimal | None
    receipt_number: str | None
    transaction_date: datetime | None  # aware, Africa/Nairobi
    phone: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)
    metadata: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # every item, by Name

    @property
    def outcome(self) -> Outcome:
        return result_codes.outcome_for(self.result_code)

    @property
    def is_paid(self) -> bool:
        return self.outcome is Outcome.PAID

    @property
    def member_message(self) -> str:
        return result_codes.member_message(self.result_code)


def parse_stk_callback(body: bytes | str | dict[str, Any]) -> StkCallback:
    """An ``StkCallback`` from the raw request body or its decoded JSON; ``MalformedCallback`` otherwise."""
    data = _decode(body)
    envelope = data.get("Body") if isinstance(data, dict) else None
    callback = envelope.get("stkCallback") if isinstance(envelope, dict) else None
    if not isinstance(callback, dict):
        raise MalformedCallback("Not an STK callback: no Body.stkCallback object.")

    merchant_request_id = _required_text(callback, "MerchantRequestID")
    checkout_request_id = _required_text(callback, "CheckoutRequestID")
    raw_code = callback.get("ResultCode")
    if isinstance(raw_code, bool) or not isinstance(raw_code, (int, str)):
        raise MalformedCallback(f"ResultCode must be an int or a string, got {type(raw_code).__name__}.")
    result_code = result_codes.normalise_code(raw_code)
    if result_code is None:
        raise MalformedCallback("ResultCode is blank.")

    metadata = _metadata_items(callback.get("CallbackMetadata"))
    return StkCallback(
        merchant_request_id=merchant_request_id,
        checkout_request_id=checkout_request_id,
        result_code=result_code,
        result_description=str(callback.get("ResultDesc") or "").strip(),
        amount=_amount(metadata.get("Amount")),
        receipt_number=_optional_text(metadata.get("MpesaReceiptNumber")),
        transaction_date=_transaction_date(metadata.get("TransactionDate")),
        phone=_phone(metadata.get("PhoneNumber")),
        raw=data,
        metadata=metadata,
    )


def _decode(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    if isinstance(body, (bytes, bytearray)):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedCallback("Body is not UTF-8.") from exc
    if not isinstance(body, str):
        raise MalformedCallback(f"Body must be bytes, str or dict, got {type(body).__name__}.")
    try:
        # Decimal keeps amounts such as 1.00 exact.
        data = json.loads(body, parse_float=Decimal)
    except ValueError as exc:
        raise MalformedCallback("Body is not JSON.") from exc
    if not isinstance(data, dict):
        raise MalformedCallback("Body is not a JSON object.")
    return data


def _required_text(callback: dict[str, Any], key: str) -> str:
    value = callback.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
        raise MalformedCallback(f"{key} is missing.")
    return str(value).strip()


def _metadata_items(metadata: Any) -> dict[str, Any]:
    """Name -> Value; an item without a Value (Balance, usually) maps to None. Never read by position."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise MalformedCallback("CallbackMetadata must be an object.")
    items = metadata.get("Item", [])
    if isinstance(items, dict):  # a single item may arrive unwrapped
        items = [items]
    if not isinstance(items, list):
        raise MalformedCallback("CallbackMetadata.Item must be a list.")
    values: dict[str, Any] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("Name"), str):
            values[item["Name"]] = item.get("Value")
    return values


def _amount(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    return amount.quantize(Decimal("0.01"))


def _transaction_date(value: Any) -> datetime | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    if isinstance(value, (float, Decimal)):
        text = _integral_text(value) or text
    if not re.fullmatch(r"\d{14}", text):
        return None
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=EAT)
    except ValueError:
        return None


def _phone(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (float, Decimal)):
        return _integral_text(value)
    return str(value).strip() or None


def _integral_text(value: float | Decimal) -> str | None:
    """12345.0 -> "12345"; anything with a fraction, NaN or infinity -> None."""
    try:
        whole = int(value)
    except (ValueError, OverflowError, InvalidOperation):
        return None
    return str(whole) if whole == value else None


def _optional_text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None
