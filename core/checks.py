"""Configuration mistakes caught at start-up, with ids and hints, instead of surprises at run time."""

from django.conf import settings
from django.core.checks import Error, Tags, register

from core.secret_key import GENERATE_HINT, secret_key_problem


@register(Tags.security)
def check_secret_key(app_configs, **kwargs):
    # config/settings.py already refuses such a key as it is read; this names it again for settings
    # changed afterwards (override_settings, a settings module of one's own).
    problem = None if settings.DEBUG else secret_key_problem(settings.SECRET_KEY)
    if problem:
        return [Error(f"{problem} while DEBUG is off.", hint=GENERATE_HINT, id="core.E001")]
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
