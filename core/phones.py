"""Phone numbers as M-Pesa wants them: international digits without '+', e.g. 254712345678."""

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError

MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}


def normalise_phone(value: str, region: str | None = None) -> str:
    """Accept 0712 345 678, 0112345678, +254712345678, 254712345678 (and other countries' numbers in
    international form) and return the digits of the E.164 form: 254712345678.

    Raises ValidationError with a message a member can act on.
    """
    raw = (value or "").strip()
    if not raw:
        raise ValidationError("Enter a phone number.", code="required")
    region = region or settings.DEFAULT_PHONE_REGION
    candidate = raw
    digits = "".join(ch for ch in raw if ch.isdigit())
    if not raw.startswith("+") and not raw.startswith("0") and len(digits) > 10:
        # 2547XXXXXXXX typed without the plus sign.
        candidate = "+" + digits
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            "Enter a valid mobile number, e.g. 0712 345 678 or +254 712 345 678.", code="invalid"
        ) from None
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise ValidationError("Enter a valid mobile number, e.g. 0712 345 678 or +254 712 345 678.", code="invalid")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


def mask_phone(value: str) -> str:
    """254712345678 -> 2547****5678, for logs and places that need not show the whole number."""
    if not value or len(value) < 8:
        return "****"
    return value[:4] + "*" * (len(value) - 8) + value[-4:]
