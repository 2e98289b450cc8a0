"""Shared test set-up: fast hashing, private storage in a temp dir, reference data, personas."""

from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from accounts.roles import ADMIN, FINANCE, STAFF
from members.services import document_verify, member_approve
from tests.factories import MemberFactory, UserFactory, load_reference_data
from tests.two_factor import give_two_factor

ROOT = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path, config):
    """Tests live in `tests/` folders; a test_*.py elsewhere is code (the test_mpesa* management commands,
    config/test_runner.py), which pytest would otherwise import as a test module."""
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        try:
            parts = collection_path.resolve().relative_to(ROOT).parts
        except ValueError:
            return None
        if "tests" not in parts[:-1]:
            return True
    return None


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MPESA_CALLBACK_SPOOL_DIR = tmp_path / "callback-spool"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # Never a real SMS from a test, whatever a developer's .env holds.
    settings.SMS_BACKEND = "notifications.sms.LocmemSmsBackend"
    from django.core.cache import cache

    cache.clear()  # rate-limit counters (web registration, API throttles) start at zero in every test


@pytest.fixture
def client():
    """Django's test client, whose force_login and login also pass the second step (two-factor) for users who
    have or, being staff, need it: see tests.clients.Client, and `otp_verified=False` to test the real flow."""
    from tests.clients import Client

    return Client()


@pytest.fixture
def reference_data(db):
    load_reference_data()


def _staff(email, role):
    """A staff user in a role, with the authenticator app their role requires (tests.two_factor.app_code)."""
    user = UserFactory(email=email, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    give_two_factor(user)
    return user


@pytest.fixture
def alice(reference_data):
    """Alice is an applicant whose documents await review."""
    return MemberFactory(user__email="alice@example.com", user__first_name="Alice")


@pytest.fixture
def bob(reference_data):
    """Bob is another applicant; Alice must never see his things."""
    return MemberFactory(user__email="bob@example.com", user__first_name="Bob")


@pytest.fixture
def approved_alice(alice, staff_user):
    """Alice's application is approved (number issued); her registration fee is still due."""
    for document in alice.documents.all():
        document_verify(document=document, actor=staff_user)
    return member_approve(member=alice, actor=staff_user)


@pytest.fixture
def staff_user(db):
    return _staff("sam.staff@example.com", STAFF)


@pytest.fixture
def finance_user(db):
    return _staff("faith.finance@example.com", FINANCE)


@pytest.fixture
def admin_user(db):
    return _staff("ada.admin@example.com", ADMIN)


@pytest.fixture
def person(request):
    """The user behind a role name of the permission tests: anonymous (None), member (Bob), no_role (staff
    status without a role), staff, finance, admin."""

    def get(who):
        if who == "anonymous":
            return None
        return {
            "member": lambda: request.getfixturevalue("bob").user,
            "no_role": lambda: UserFactory(email="nora.norole@example.com", is_staff=True),
            "staff": lambda: request.getfixturevalue("staff_user"),
            "finance": lambda: request.getfixturevalue("finance_user"),
            "admin": lambda: request.getfixturevalue("admin_user"),
        }[who]()

    return get


@pytest.fixture
def login_as(client, person):
    """Log the test client in as a role name's user (see `person`); answers the user, None for anonymous."""

    def login(who):
        user = person(who)
        if user is not None:
            client.force_login(user)
        return user

    return login


@pytest.fixture
def daraja(settings):
    """A local Daraja simulator over real HTTP, with the M-Pesa settings pointed at it.

    Callbacks go to MPESA_CALLBACK_URL; tests that need them delivered use `daraja_live`.
    """
    from django.core.cache import cache

    from daraja_simulator.server import Simulator

    with Simulator(host="127.0.0.1", port=0, callback_delay=0, seed=7) as sim:
        settings.MPESA_ENVIRONMENT = "simulator"
        settings.MPESA_BASE_URL = sim.base_url
        settings.MPESA_CONSUMER_KEY = ""
        settings.MPESA_CONSUMER_SECRET = ""
        settings.MPESA_PASSKEY = ""
        settings.MPESA_SHORTCODE = "174379"
        cache.clear()  # no token from another test's simulator
        yield sim


@pytest.fixture
def daraja_live(daraja, live_server, settings):
    """The simulator delivering its callbacks to this test's live server."""
    settings.MPESA_CALLBACK_URL = f"{live_server.url}/api/mpesa/callback/"
    return daraja


@pytest.fixture
def daraja_confirms(monkeypatch):
    """Daraja's status query answers "paid" for every CheckoutRequestID, without a simulator: for tests of what
    follows a success callback once Daraja confirms it (payments.services.callback_confirm). Returns the list of
    CheckoutRequestIDs queried."""
    from mpesa import config
    from mpesa.client import StkQueryResult
    from mpesa.result_codes import Outcome

    asked = []

    class ConfirmingDaraja:
        def stk_query(self, checkout_request_id):
            asked.append(checkout_request_id)
            return StkQueryResult(
                checkout_request_id=checkout_request_id,
                result_code="0",
                result_description="The service request is processed successfully.",
                pending=False,
                outcome=Outcome.PAID,
            )

    monkeypatch.setattr(config, "get_client", ConfirmingDaraja)
    return asked
