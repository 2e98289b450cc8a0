"""Payment configuration mistakes, refused at start-up with ids and hints."""

from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import Error, Tags, register

from mpesa.client import BUY_GOODS, C2B_RESPONSE_TYPES, C2B_VERSIONS, PAYBILL, TRANSACTION_TYPES
from mpesa.config import BASE_URLS, mpesa_environment

# The C2B URLs carry MPESA_C2B_URL_SECRET: long enough that nobody guesses it.
MIN_C2B_URL_SECRET_LENGTH = 32


@register(Tags.security)
def check_mpesa_production_settings(app_configs, **kwargs):
    if settings.DEBUG:
        return []
    errors = []
    if settings.MPESA_ENVIRONMENT == "simulator":
        errors.append(
            Error(
                "MPESA_ENVIRONMENT is 'simulator' while DEBUG is off: payments would go to the local simulator.",
                hint="Set MPESA_ENVIRONMENT=sandbox or production, with the Daraja credentials.",
                id="payments.E001",
            )
        )
    if urlparse(settings.MPESA_CALLBACK_URL).scheme != "https":
        errors.append(
            Error(
                "MPESA_CALLBACK_URL must be https:// in production.",
                hint="Daraja posts payment results there; use the site's public https address.",
                id="payments.E002",
            )
        )
    if settings.MPESA_CALLBACK_IP_CHECK not in ("off", "log", "enforce"):
        errors.append(Error("MPESA_CALLBACK_IP_CHECK must be off, log or enforce.", id="payments.E003"))
    return errors


@register()
def check_mpesa_settings(app_configs, **kwargs):
    """Mistakes that would otherwise surface only at the first payment, as a confusing Daraja error."""
    errors = []
    environment = mpesa_environment()
    if environment not in BASE_URLS:
        errors.append(
            Error(
                f"MPESA_ENVIRONMENT is {settings.MPESA_ENVIRONMENT!r}, not one of {', '.join(sorted(BASE_URLS))}.",
                hint="Set MPESA_ENVIRONMENT=sandbox (Daraja's test system), production (live payments) or "
                "simulator (the local Daraja simulator). In a .env file, a note after the value needs a space "
                "before its #.",
                id="payments.E004",
            )
        )
    for name in ("MPESA_SHORTCODE", "MPESA_PARTY_B"):
        value = str(getattr(settings, name))
        if (value or name == "MPESA_SHORTCODE") and not (value.isascii() and value.isdigit()):
            errors.append(
                Error(
                    f"{name} is {value!r}: a Daraja shortcode is digits only.",
                    hint="Use the paybill or till number Safaricom gave you (the sandbox's is 174379).",
                    id="payments.E005",
                )
            )
    if settings.MPESA_TRANSACTION_TYPE not in TRANSACTION_TYPES:
        errors.append(
            Error(
                f"MPESA_TRANSACTION_TYPE is {settings.MPESA_TRANSACTION_TYPE!r}.",
                hint=f"Use {PAYBILL} (a paybill) or {BUY_GOODS} (a till).",
                id="payments.E006",
            )
        )
    if not settings.MPESA_CONFIRM_CALLBACKS and not settings.MPESA_CONFIRM_CALLBACKS_OFF_REASON.strip():
        errors.append(
            Error(
                "MPESA_CONFIRM_CALLBACKS is off without MPESA_CONFIRM_CALLBACKS_OFF_REASON.",
                hint="Anyone who knows a payment's callback URL could then complete it. Turn it back on, or say "
                "why not in MPESA_CONFIRM_CALLBACKS_OFF_REASON (written into every unconfirmed completion's audit "
                "entry).",
                id="payments.E007",
            )
        )
    return errors


@register()
def check_c2b_settings(app_configs, **kwargs):
    """Paybill/Till (C2B): a shortcode needs a long URL secret, and the registration settings Daraja accepts."""
    errors = []
    shortcode = settings.MPESA_C2B_SHORTCODE
    if shortcode and not (shortcode.isascii() and shortcode.isdigit()):
        errors.append(
            Error(
                f"MPESA_C2B_SHORTCODE is {shortcode!r}: a Daraja shortcode is digits only.",
                hint="Use the paybill or till number members pay to.",
                id="payments.E020",
            )
        )
    if shortcode and len(settings.MPESA_C2B_URL_SECRET) < MIN_C2B_URL_SECRET_LENGTH:
        errors.append(
            Error(
                f"MPESA_C2B_SHORTCODE is set but MPESA_C2B_URL_SECRET is shorter than {MIN_C2B_URL_SECRET_LENGTH} "
                "characters.",
                hint="The C2B URLs carry this secret: anyone who knows them could post a payment. Generate one with "
                'python -c "import secrets; print(secrets.token_urlsafe(32))" and register the URLs again '
                "(manage.py register_c2b_urls).",
                id="payments.E021",
            )
        )
    if settings.MPESA_C2B_API_VERSION not in C2B_VERSIONS:
        errors.append(Error(f"MPESA_C2B_API_VERSION must be one of {', '.join(C2B_VERSIONS)}.", id="payments.E022"))
    if settings.MPESA_C2B_RESPONSE_TYPE not in C2B_RESPONSE_TYPES:
        errors.append(
            Error(
                f"MPESA_C2B_RESPONSE_TYPE must be {' or '.join(C2B_RESPONSE_TYPES)} (exact case).", id="payments.E023"
            )
        )
    return errors
