"""Every app's URL conf has a namespace, and every URL name the code reverses says which app it belongs to."""

import re
from pathlib import Path

from django.conf import settings
from django.urls import URLResolver, get_resolver

# The few routes config/urls.py declares itself (no app to namespace them under).
ROOT_NAMES = {
    "healthz",
    "verify_membership",
    "mpesa_callback",
    "mpesa_callback_untokened",
    "c2b_confirmation",
    "c2b_validation",
}

REVERSED_NAME = re.compile(
    r"""\{%\s*url\s+["']([\w:-]+)["']"""  # {% url 'name' %}
    r"""|\b(?:reverse|reverse_lazy|redirect|resolve_url)\(\s*["']([\w:-]+)["']"""  # reverse("name")
    r"""|^(?:LOGIN_URL|LOGIN_REDIRECT_URL|LOGOUT_REDIRECT_URL)\s*=\s*["']([\w:-]+)["']""",
    re.M,
)


def _project_files():
    base = Path(settings.BASE_DIR)
    for path in base.rglob("*"):
        parts = path.relative_to(base).parts
        if parts[0].startswith(".") or parts[0] in {"var", "node_modules", "static", "media"}:
            continue
        if path.suffix in {".py", ".html", ".txt"} and path.is_file() and path != Path(__file__):
            yield path


def test_it_includes_every_app_url_conf_under_a_namespace():
    included = [entry for entry in get_resolver().url_patterns if isinstance(entry, URLResolver)]
    assert included
    for resolver in included:
        assert resolver.namespace, f"{resolver.urlconf_name} has no app_name"


def test_it_reverses_only_namespaced_names_outside_the_root_conf():
    bare = []
    for path in _project_files():
        for match in REVERSED_NAME.finditer(path.read_text(errors="ignore")):
            name = next(group for group in match.groups() if group)
            # A literal URL ("/staff/") or a namespaced name is fine; redirect() also takes paths.
            if ":" in name or "/" in name or name in ROOT_NAMES:
                continue
            bare.append(f"{path.relative_to(settings.BASE_DIR)}: {name}")
    assert bare == []
