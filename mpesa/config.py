"""Build a DarajaClient from Django settings; the only module here that imports Django."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from mpesa.client import SANDBOX_PASSKEY, DarajaClient

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
    explicit = settings.MPESA_BASE_URL.strip()
    if explicit:
        return explicit.rstrip("/")
    environment = mpesa_environment()
    if environment == "simulator":
        return f"http://127.0.0.1:{settings.DARAJA_SIMULATOR_PORT}"
    try:
        return BASE_URLS[environment]
    except KeyError:
        raise ImproperlyConfigured(
            f"MPESA_ENVIRONMENT must be one of {sorted(BASE_URLS)}, got {environment!r}."
        ) from None


def get_client() -> DarajaClient:
    environment = mpesa_environment()
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
        transaction_type=settings.MPESA_TRANSACTION_TYPE,
        party_b=settings.MPESA_PARTY_B or None,
        timeout=tuple(settings.MPESA_TIMEOUT),
        cache=cache,
    )


def mpesa_environment() -> str:
    """MPESA_ENVIRONMENT as the client understands it: simulator, sandbox or production (see BASE_URLS)."""
    return settings.MPESA_ENVIRONMENT.strip().lower()
