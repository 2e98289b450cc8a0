"""Password reset is limited per client address and per account, answers the same whether or not it sent
anything, and sends its email from the outbox rather than inside the request (finding 13 of issue 13)."""

import re

import pytest
from celery.app.task import Task
from django.core import mail
from kombu.exceptions import OperationalError

from notifications.models import Message
from notifications.tasks import redeliver_queued_messages
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RESET = "/password/reset/"
DONE = "/password/reset/sent/"


@pytest.fixture
def ask(client, django_capture_on_commit_callbacks):
    """POST the reset form from `ip`; the request's commit hooks run (queue the delivery, eager here)."""

    def post(email, ip="197.248.10.1"):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(RESET, {"email": email}, REMOTE_ADDR=ip)

    return post


def test_one_address_gets_its_limit_of_reset_emails_and_no_more(ask, settings):
    settings.PASSWORD_RESET_RATE_PER_ADDRESS = "3/hour"
    settings.PASSWORD_RESET_RATE_PER_ACCOUNT = "100/hour"
    users = [UserFactory(email=f"member{index}@example.com") for index in range(5)]

    answers = [ask(user.email) for user in users]

    assert [(a.status_code, a["Location"]) for a in answers] == [(302, DONE)] * 5  # the same answer each time
    assert sorted(m.to[0] for m in mail.outbox) == ["member0@example.com", "member1@example.com", "member2@example.com"]
    assert Message.objects.filter(event="password_reset").count() == 3
    # Another address is counted on its own.
    ask(users[4].email, ip="197.248.10.2")
    assert len(mail.outbox) == 4


def test_one_account_gets_its_limit_whichever_addresses_ask_and_however_the_email_is_spelt(ask, settings):
    settings.PASSWORD_RESET_RATE_PER_ADDRESS = "100/hour"
    settings.PASSWORD_RESET_RATE_PER_ACCOUNT = "2/hour"
    UserFactory(email="bob@sec.test")
    spellings = ["bob@sec.test", "BOB@sec.test", "bob@sec.teſt", "ｂｏｂ＠ｓｅｃ．ｔｅｓｔ", " Bob@Sec.Test "]

    answers = [ask(email, ip=f"197.248.20.{index}") for index, email in enumerate(spellings)]

    assert [a["Location"] for a in answers] == [DONE] * 5
    assert [m.to for m in mail.outbox] == [["bob@sec.test"]] * 2
    assert Message.objects.filter(event="password_reset").count() == 2


def test_a_limited_request_answers_exactly_as_one_for_an_unknown_account(ask, settings):
    settings.PASSWORD_RESET_RATE_PER_ADDRESS = "100/hour"
    settings.PASSWORD_RESET_RATE_PER_ACCOUNT = "1/hour"
    UserFactory(email="carol@example.com")
    ask("carol@example.com", ip="197.248.30.1")

    limited = ask("carol@example.com", ip="197.248.30.2")
    unknown = ask("nobody@example.com", ip="197.248.30.3")

    assert (limited.status_code, limited["Location"]) == (unknown.status_code, unknown["Location"]) == (302, DONE)
    assert "Retry-After" not in limited and "Retry-After" not in unknown
    assert len(mail.outbox) == 1


@pytest.mark.security_check(23)
def test_the_reset_email_is_queued_in_the_outbox_not_sent_in_the_request(ask, client, monkeypatch, settings):
    """With the broker unreachable the request still succeeds and nothing is sent inside it; the message
    waits as a row and the sweep sends it, with a link that works."""
    settings.NOTIFICATIONS_SWEEP_NEVER_TRIED_SECONDS = 0
    user = UserFactory(email="dora@example.com")

    def refuse(task, *args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as patch:
        patch.setattr(Task, "apply_async", refuse)
        response = ask("dora@example.com")

    assert (response.status_code, response["Location"]) == (302, DONE)
    assert mail.outbox == []
    message = Message.objects.get(event="password_reset")
    assert (message.status, message.recipient, message.user_id) == (Message.Status.QUEUED, "dora@example.com", user.pk)

    assert redeliver_queued_messages.delay().get()["sent"] == 1
    [email] = mail.outbox
    assert email.to == ["dora@example.com"]
    link = re.search(r"https?://[^/\s]+(/password/reset/\S+/\S+/)", email.body).group(1)
    form = client.get(link, follow=True)
    assert form.status_code == 200 and b"new_password1" in form.content
