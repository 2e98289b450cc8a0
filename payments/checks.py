"""Payment configuration mistakes, refused at start-up with ids and hints."""

from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import Error, Tags, register


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
