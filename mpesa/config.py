"""Build a DarajaClient from Django settings; the only module here that imports Django."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from mpesa.client import DEFAULT_TIMEOUT, PAYBILL, SANDBOX_PASSKEY, DarajaClient

BASE_URLS = {
    "sandbox": "https://sandbox.safaricom.co.ke",
    "production": "https://api.safaricom.co.ke",
    "simulator": "http://127.0.0.1:8765",
}

# The local simulator accepts these when the settings leave them empty, so a clean checkout can pay.
SIMULATOR_CONSUMER_KEY = "simulator-consumer-key"
SIMULATOR_CONSUMER_SECRET = "simulator-consumer-secret"  # noqa: S105 (not a secret: the simulator's default)


def base_url() -> str:
    """MPESA_BASE_URL when set, else the URL for MPESA_ENVIRONMENT."""
    explicit = (getattr(settings, "MPESA_BASE_URL", "") or "").strip()
    if explicit:
        return explicit.rstrip("/")
    environment = _environment()
    if environment == "simulator":
        return f"http://127.0.0.1:{getattr(settings, 'DARAJA_SIMULATOR_PORT', 8765)}"
    try:
        return BASE_URLS[environment]
    except KeyError:
        raise ImproperlyConfigured(
            f"MPESA_ENVIRONMENT must be one of {sorted(BASE_URLS)}, got {environment!r}."
        ) from None


def get_client() -> DarajaClient:
    environment = _environment()
    consumer_key = settings.MPESA_CONSUMER_KEY or ""
    consumer_secret = settings.MPESA_CONSUMER_SECRET or ""
    passkey = settings.MPESA_PASSKEY or ""
    if environment == "simulator":
        consumer_key = consumer_key or SIMULATOR_CONSUMER_KEY
        consumer_secret = consumer_secret or SIMULATOR_CONSUMER_SECRET
        passkey = passkey or SANDBOX_PASSKEY
    missing = [
        name
        for name, value in (
            ("MPESA_CONSUMER_KEY", consumer_key),
            ("MPESA_CONSUMER_SECRET", consumer_secret),
            ("MPESA_PASSKEY", passkey),
            ("MPESA_SHORTCODE", settings.MPESA_SHORTCODE),
        )
        if not value
    ]
    if missing:
        raise ImproperlyConfigured(f"M-Pesa ({environment}) needs {', '.join(missing)}.")
    return DarajaClient(
        base_url=base_url(),
        consumer_key=consumer_key,
        consumer_secret=consumer_secret,
        shortcode=settings.MPESA_SHORTCODE,
        passkey=passkey,
        transaction_type=getattr(settings, "MPESA_TRANSACTION_TYPE", "") or PAYBILL,
        party_b=getattr(settings, "MPESA_PARTY_B", "") or None,
        timeout=getattr(settings, "MPESA_TIMEOUT", None) or DEFAULT_TIMEOUT,
        cache=cache,
    )


def _environment() -> str:
    return (getattr(settings, "MPESA_ENVIRONMENT", "") or "simulator").strip().lower()
