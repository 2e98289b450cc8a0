"""The in-app notification centre: written by notify_member, counted in the navbar, read in the portal."""

import copy
import datetime
import re

import pytest
from django.test import RequestFactory
from django.utils import timezone

from members.models import Member
from notifications.context_processors import unread
from notifications.events import EVENTS, event_context
from notifications.models import Message, Notification
from notifications.services import notification_render, notify_member
from tests.idor import assert_nothing_of, row_of, their_object

from .test_templates import EVENT_CONTEXT

pytestmark = pytest.mark.django_db

LIST_URL = "/portal/notifications/"
READ_ALL_URL = "/portal/notifications/read-all/"
RECEIPT_PATH = "/payments/receipt/Zx9kQ2mP7vB4tR1y/"


def read_url(notification):
    return f"/portal/notifications/{notification.pk}/read/"


def make_notification(user, **fields):
    defaults = {"event": "approved", "title": "Your membership has been approved", "body": "", "link": "/portal/"}
    return Notification.objects.create(user=user, **{**defaults, **fields})


def unread_badge(response):
    match = re.search(r'id="unread-count">(\d+)<', response.content.decode())
    return int(match.group(1)) if match else None


# --- Written by notify_member ------------------------------------------------------------------------------


def test_notify_member_records_one_in_app_notification(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        notify_member(alice, event="application_received")

    [notification] = Notification.objects.all()
    assert notification.user == alice.user
    assert notification.event == "application_received"
    assert notification.title == "We have received your application to Kalda-Tech Society"
    assert notification.body.startswith("Staff will review your application")
    assert notification.link == "/portal/"
    assert notification.read_at is None
    assert notification.dedupe_key is None


def test_every_call_without_a_dedupe_key_records_another_notification(alice):
    notify_member(alice, event="application_received")
    notify_member(alice, event="application_received")
    assert Notification.objects.count() == 2


def test_the_same_dedupe_key_base_records_one_notification(alice):
    first = notify_member(alice, event="approved", dedupe_key_base="approved:7")
    again = notify_member(alice, event="approved", dedupe_key_base="approved:7")
    assert {m.pk for m in again} == {m.pk for m in first}
    [notification] = Notification.objects.all()
    assert notification.dedupe_key == "approved:7"


def test_the_in_app_notification_is_kept_when_the_member_wants_neither_email_nor_sms(alice):
    Member.objects.filter(pk=alice.pk).update(notify_by_email=False, notify_by_sms=False)
    alice.refresh_from_db()

    assert notify_member(alice, event="application_received") == []
    assert not Message.objects.exists()
    assert Notification.objects.filter(user=alice.user, event="application_received").count() == 1


def test_a_payment_notification_leads_to_its_receipt(alice):
    notify_member(
        alice,
        event="payment_received",
        context={"amount": 1500, "receipt_number": "RCT-2026-000123", "receipt_url": RECEIPT_PATH},
    )
    notification = Notification.objects.get()
    assert notification.title == "Payment received: KES 1,500"
    assert notification.body == "KES 1,500. Receipt RCT-2026-000123 is ready to download."
    assert notification.link == RECEIPT_PATH


def test_an_explicit_link_wins(alice):
    notify_member(alice, event="application_received", link="/payments/")
    assert Notification.objects.get().link == "/payments/"


def test_an_event_without_in_app_text_falls_back_to_its_sms(alice, settings, tmp_path):
    folder = tmp_path / "notifications"
    folder.mkdir()
    (folder / "made_up_event.subject.txt").write_text("Renew by 1 March")
    (folder / "made_up_event.txt").write_text("Dear member, renew.")
    (folder / "made_up_event.sms.txt").write_text("Kalda-Tech Society: renew by 1 March.")
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["DIRS"] = [tmp_path, *templates[0]["DIRS"]]
    settings.TEMPLATES = templates

    notify_member(alice, event="made_up_event")
    notification = Notification.objects.get()
    assert (notification.title, notification.body) == ("Renew by 1 March", "Kalda-Tech Society: renew by 1 March.")


@pytest.mark.parametrize("event", EVENTS)
def test_every_event_has_a_short_in_app_text_with_nothing_missing(event, alice, settings):
    templates = copy.deepcopy(settings.TEMPLATES)
    templates[0]["OPTIONS"]["string_if_invalid"] = "INVALID[%s]"
    settings.TEMPLATES = templates
    Member.objects.filter(pk=alice.pk).update(membership_number="KTS-2026-0001", period_end=datetime.date(2027, 1, 4))
    alice.refresh_from_db()

    rendered = notification_render(event=event, context=event_context(alice, event=event, context=EVENT_CONTEXT[event]))
    assert rendered.subject and rendered.body
    assert "INVALID" not in rendered.subject + rendered.body
    assert len(rendered.body) <= 200


# --- The navbar badge ----------------------------------------------------------------------------------------


def test_the_navbar_shows_how_many_notifications_are_unread(client, alice, bob):
    make_notification(alice.user)
    make_notification(alice.user)
    make_notification(alice.user, read_at=timezone.now())
    make_notification(bob.user)
    client.force_login(alice.user)

    assert unread_badge(client.get("/portal/")) == 2


def test_the_navbar_shows_no_badge_when_everything_is_read(client, alice):
    make_notification(alice.user, read_at=timezone.now())
    client.force_login(alice.user)
    response = client.get("/portal/")
    assert 'id="nav-notifications"' in response.content.decode()
    assert unread_badge(response) is None


def test_the_unread_count_is_one_query_however_many_notifications(alice, django_assert_num_queries):
    for _ in range(30):
        make_notification(alice.user)
    request = RequestFactory().get("/")
    request.user = alice.user

    context = unread(request)
    with django_assert_num_queries(1):
        assert context["unread_notification_count"] == 30
        assert str(context["unread_notification_count"]) == "30"  # counted once, then remembered


def test_the_unread_count_costs_nothing_until_a_page_shows_it(alice, django_assert_num_queries):
    request = RequestFactory().get("/")
    request.user = alice.user
    with django_assert_num_queries(0):
        unread(request)


def test_anonymous_visitors_cost_no_query_and_get_no_count(django_assert_num_queries):
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    with django_assert_num_queries(0):
        assert unread(request) == {}


def test_the_notification_page_has_a_pinned_query_count(client, alice, django_assert_num_queries):
    # session, user, her roles (does two-factor apply: accounts.middleware), two for the navbar's perms, its
    # user.member, the paginator's count, the page's rows, and the unread count: once, though both the navbar
    # and the page ask for it
    client.force_login(alice.user)
    for count in (1, 25):
        Notification.objects.all().delete()
        for _ in range(count):
            make_notification(alice.user)
        with django_assert_num_queries(9):
            assert client.get(LIST_URL).status_code == 200


# --- The list ------------------------------------------------------------------------------------------------


def test_the_list_shows_only_the_members_own_notifications_newest_first(client, alice, bob):
    now = timezone.now()
    make_notification(alice.user, title="Older news", created_at=now - datetime.timedelta(days=2))
    make_notification(alice.user, title="Newer news", created_at=now - datetime.timedelta(days=1))
    make_notification(bob.user, title="Bob's news")
    client.force_login(alice.user)

    page = client.get(LIST_URL).content.decode()
    assert page.index("Newer news") < page.index("Older news")
    assert "Bob&#x27;s news" not in page and "Bob's news" not in page


def test_unread_notifications_are_highlighted(client, alice):
    unread_one = make_notification(alice.user, title="Unread one")
    read_one = make_notification(alice.user, title="Read one", read_at=timezone.now())
    client.force_login(alice.user)

    page = client.get(LIST_URL).content.decode()
    assert re.search(rf'id="notification-{unread_one.pk}"', page)
    assert re.search(rf'class="[^"]*notification-unread[^"]*" id="notification-{unread_one.pk}"', page)
    assert not re.search(rf'class="[^"]*notification-unread[^"]*" id="notification-{read_one.pk}"', page)


def test_the_list_is_paginated(client, alice):
    start = timezone.now()
    for number in range(25):
        make_notification(
            alice.user, title=f"News number {number:02d}", created_at=start + datetime.timedelta(minutes=number)
        )
    client.force_login(alice.user)

    first = client.get(LIST_URL).content.decode()
    second = client.get(LIST_URL + "?page=2").content.decode()
    assert "News number 24" in first and "News number 05" in first and "News number 04" not in first
    assert "News number 04" in second and "News number 00" in second and "Page 2 of 2" in second


def test_the_member_home_shows_the_three_latest_notifications(client, alice):
    start = timezone.now()
    for number in range(5):
        make_notification(
            alice.user, title=f"Home news {number}", created_at=start + datetime.timedelta(minutes=number)
        )
    client.force_login(alice.user)

    page = client.get("/portal/").content.decode()
    card = page[page.index('id="latest-notifications"') :]
    assert [f"Home news {n}" in card for n in range(5)] == [False, False, True, True, True]


# --- Marking read --------------------------------------------------------------------------------------------


def test_a_member_marks_one_notification_read(client, alice):
    notification = make_notification(alice.user)
    other = make_notification(alice.user)
    client.force_login(alice.user)

    response = client.post(read_url(notification))

    assert response.status_code == 302 and response["Location"] == LIST_URL
    notification.refresh_from_db()
    other.refresh_from_db()
    assert notification.read_at is not None
    assert other.read_at is None


def test_reading_again_keeps_the_first_read_time(client, alice):
    first_read = timezone.now() - datetime.timedelta(days=3)
    notification = make_notification(alice.user, read_at=first_read)
    client.force_login(alice.user)
    client.post(read_url(notification))
    notification.refresh_from_db()
    assert notification.read_at == first_read


def test_opening_a_notification_marks_it_read_and_follows_its_link(client, alice):
    notification = make_notification(alice.user, link=RECEIPT_PATH)
    client.force_login(alice.user)

    response = client.post(read_url(notification), {"open": "1"})

    assert response.status_code == 302 and response["Location"] == RECEIPT_PATH
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_a_link_to_another_site_is_never_followed(client, alice):
    notification = make_notification(alice.user, link="https://evil.example/phish")
    client.force_login(alice.user)
    response = client.post(read_url(notification), {"open": "1"})
    assert response["Location"] == LIST_URL


def test_mark_all_read_marks_only_the_callers_notifications(client, alice, bob):
    mine = [make_notification(alice.user), make_notification(alice.user)]
    bobs = make_notification(bob.user)
    client.force_login(alice.user)

    response = client.post(READ_ALL_URL)

    assert response.status_code == 302 and response["Location"] == LIST_URL
    assert Notification.objects.filter(pk__in=[n.pk for n in mine], read_at__isnull=True).count() == 0
    bobs.refresh_from_db()
    assert bobs.read_at is None
    assert unread_badge(client.get(LIST_URL)) is None


@pytest.mark.security_check(1)
def test_another_users_notification_is_404_and_stays_unread(client, alice, bob):
    bobs = make_notification(
        bob.user, title="Bob's renewal reminder", body="Bob owes KES 4,321", link="/payments/PAY-BOB-0001/"
    )
    their_object(Notification, bobs.pk, user__email="bob@example.com", read_at=None)
    before = row_of(bobs)
    client.force_login(alice.user)

    for data in ({}, {"open": "1"}):
        response = client.post(read_url(bobs), data)
        assert response.status_code == 404, data
        assert "Location" not in response  # not sent on to Bob's link
        assert_nothing_of(bob, response, "Bob's renewal", "4,321", "PAY-BOB-0001")
    assert client.post("/portal/notifications/999999/read/").status_code == 404
    assert row_of(bobs) == before  # still unread, nothing else changed
    listing = client.get(LIST_URL)
    assert_nothing_of(bob, listing, "Bob's renewal", "4,321", "PAY-BOB-0001")


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", LIST_URL), ("post", "/portal/notifications/1/read/"), ("post", READ_ALL_URL)],
)
def test_anonymous_visitors_are_sent_to_the_login_page(client, method, url, reference_data):
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize("url", ["/portal/notifications/1/read/", READ_ALL_URL])
def test_marking_read_needs_a_post(client, alice, url):
    client.force_login(alice.user)
    assert client.get(url).status_code == 405


def test_the_list_needs_a_get(client, alice):
    client.force_login(alice.user)
    assert client.post(LIST_URL).status_code == 405
