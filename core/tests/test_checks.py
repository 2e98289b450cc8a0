from pathlib import Path

from core.checks import check_private_media_outside_public_roots, check_secret_key


def test_it_refuses_the_development_key_when_debug_is_off(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = settings.DEV_SECRET_KEY
    assert [e.id for e in check_secret_key(None)] == ["core.E001"]


def test_it_accepts_the_development_key_while_debugging(settings):
    settings.DEBUG = True
    settings.SECRET_KEY = settings.DEV_SECRET_KEY
    assert check_secret_key(None) == []


def test_it_accepts_a_real_key_in_production(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = "a-real-production-key-0123456789-abcdefghijklmnopqrstuvwxyz"
    assert check_secret_key(None) == []


def test_it_refuses_private_documents_under_a_public_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STATIC_ROOT = tmp_path / "static"
    settings.PRIVATE_MEDIA_ROOT = Path(settings.MEDIA_ROOT) / "private"
    assert [e.id for e in check_private_media_outside_public_roots(None)] == ["core.E002"]
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    assert check_private_media_outside_public_roots(None) == []


def test_it_names_a_placeholder_key_set_after_start_up(settings):
    settings.DEBUG = False
    settings.SECRET_KEY = "your-secret-key-here-change-this-in-production"  # noqa: S105
    assert [e.id for e in check_secret_key(None)] == ["core.E001"]
