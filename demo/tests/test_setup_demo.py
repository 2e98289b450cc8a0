"""setup_demo: the reference data, then demo accounts a newcomer can log in with; safe to run again."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from members.models import Country, Member, MembershipCategory, Region
from payments.models import Payment

pytestmark = pytest.mark.django_db


@pytest.fixture
def password_file(tmp_path, monkeypatch):
    path = tmp_path / "var" / "demo-password.txt"
    monkeypatch.setattr("demo.management.commands.setup_demo.password_file", lambda: path)
    return path


def test_it_loads_only_the_reference_data_with_no_demo(password_file):
    call_command("setup_demo", "--no-demo", verbosity=0)

    assert Country.objects.filter(pk="KE").exists()
    assert Region.objects.filter(country="KE").count() == 47
    assert MembershipCategory.objects.exists()
    assert not get_user_model().objects.exists()
    assert not password_file.exists()


def test_it_refuses_demo_accounts_when_debug_is_off(settings, password_file):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("setup_demo", verbosity=0)


def test_it_creates_staff_and_members_who_log_in_with_the_shared_password(settings, password_file, client):
    settings.DEBUG = True
    call_command("setup_demo", verbosity=0)

    password = password_file.read_text().strip()
    for email in ("admin@example.com", "staff@example.com", "finance@example.com", "member@example.com"):
        assert client.login(email=email, password=password), email
    member = Member.objects.get(user__email="member@example.com")
    assert member.status == Member.Status.ACTIVE
    assert member.membership_number
    assert Payment.objects.filter(member=member, status=Payment.Status.COMPLETED).exists()
    assert Member.objects.get(user__email="wanjiku.kamau@example.com").status == Member.Status.PENDING


def test_running_it_again_changes_nothing(settings, password_file):
    settings.DEBUG = True
    call_command("setup_demo", verbosity=0)
    counts = (get_user_model().objects.count(), Member.objects.count(), Payment.objects.count())
    password = password_file.read_text()

    call_command("setup_demo", verbosity=0)

    assert (get_user_model().objects.count(), Member.objects.count(), Payment.objects.count()) == counts
    assert password_file.read_text() == password
