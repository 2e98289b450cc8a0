"""Configuration mistakes in email/SMS delivery, caught at start-up with ids and hints."""

from django.conf import settings
from django.core.checks import Error, register
from django.utils.module_loading import import_string

from .sms import AFRICAS_TALKING_BACKEND, default_sms_backend


@register()
def check_sms_backend(app_configs, **kwargs):
    path = settings.SMS_BACKEND or default_sms_backend()
    try:
        import_string(path)
    except ImportError:
        return [
            Error(
                f"SMS_BACKEND ({path}) cannot be imported.",
                hint="Use notifications.sms.AfricasTalkingSmsBackend, notifications.sms.ConsoleSmsBackend, "
                "or the dotted path of your own class with a send(to, message) method.",
                id="notifications.E001",
            )
        ]
    if path == AFRICAS_TALKING_BACKEND and not (settings.SMS_API_KEY and settings.SMS_USERNAME):
        return [
            Error(
                "SMS_BACKEND is Africa's Talking but SMS_API_KEY or SMS_USERNAME is empty.",
                hint="Set both (SMS_USERNAME=sandbox with the sandbox key for testing), or unset SMS_BACKEND "
                "to print SMS to the console.",
                id="notifications.E002",
            )
        ]
    return []
