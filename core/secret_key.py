"""Which SECRET_KEY values must never sign anything in production.

config/settings.py asks this while it is read, so every entry point (gunicorn, the Celery worker and beat,
manage.py commands) refuses to start with DEBUG off and such a key: a system check alone guards only
manage.py, and a key anyone can read lets them forge sessions, password-reset links and API tokens.
No Django settings are read here; settings are not configured yet when it runs.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

# Django's own deploy-check rule (security.W009): at least 50 characters, 5 of them different.
MIN_LENGTH = 50
MIN_DISTINCT_CHARACTERS = 5

# The default with nothing configured (config/settings.py): fine while DEBUG is on, and nowhere else.
DEVELOPMENT_KEY = "django-insecure-local-development-key-never-use-in-production"  # noqa: S105
# Keys published somewhere: the development default and the brief's example `.env`.
KNOWN_KEYS = frozenset({DEVELOPMENT_KEY, "your-secret-key-here-change-this-in-production"})
# Words that mark a value as a stand-in to be replaced. A generated key (letters, digits, - and _ drawn at
# random) contains one of these by chance about once in a billion.
PLACEHOLDER_WORDS = ("change", "replace", "placeholder", "your-secret", "secret-key", "example", "insecure")

GENERATE_HINT = "Generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"


def secret_key_problem(key: str) -> str | None:
    """Why `key` may not be used with DEBUG off, or None when it may."""
    if not key:
        return "SECRET_KEY is not set"
    if key in KNOWN_KEYS:
        return "SECRET_KEY is a published key (the development default or the documented example)"
    # Django's startproject keys carry this prefix until someone replaces them.
    lowered = key.casefold()
    if lowered.startswith("django-insecure-"):
        return "SECRET_KEY is a development key (it starts with django-insecure-)"
    word = next((word for word in PLACEHOLDER_WORDS if word in lowered), None)
    if word:
        return f"SECRET_KEY looks like a placeholder (it contains {word!r})"
    if len(key) < MIN_LENGTH or len(set(key)) < MIN_DISTINCT_CHARACTERS:
        return (
            f"SECRET_KEY is too weak ({len(key)} characters, {len(set(key))} different; at least "
            f"{MIN_LENGTH} and {MIN_DISTINCT_CHARACTERS} are required)"
        )
    return None


def refuse_unsafe_secret_key(*, key: str, debug: bool) -> None:
    """Raise ImproperlyConfigured when `key` may not sign anything: with DEBUG off, any key `secret_key_problem`
    names. With DEBUG on (local development) every key is accepted."""
    if debug:
        return
    problem = secret_key_problem(key)
    if problem:
        raise ImproperlyConfigured(f"{problem} while DEBUG is off; refusing to start. {GENERATE_HINT}")
