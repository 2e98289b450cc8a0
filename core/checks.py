"""Configuration mistakes caught at start-up, with ids and hints, instead of surprises at run time."""

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security)
def check_secret_key(app_configs, **kwargs):
    if not settings.DEBUG and settings.SECRET_KEY == settings.DEV_SECRET_KEY:
        return [
            Error(
                "SECRET_KEY is the development key while DEBUG is off.",
                hint="Set SECRET_KEY in the environment or .env to a long random value, e.g. "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'.",
                id="core.E001",
            )
        ]
    return []


@register()
def check_private_media_outside_public_roots(app_configs, **kwargs):
    private = settings.PRIVATE_MEDIA_ROOT.resolve()
    errors = []
    for name in ("MEDIA_ROOT", "STATIC_ROOT"):
        public = type(private)(getattr(settings, name)).resolve()
        if private == public or public in private.parents:
            errors.append(
                Error(
                    f"PRIVATE_MEDIA_ROOT ({private}) is inside {name} ({public}).",
                    hint="Members' documents must not be reachable through a public URL; "
                    "point PRIVATE_MEDIA_ROOT somewhere else.",
                    id="core.E002",
                )
            )
    return errors
