"""Finance's payment pages: the payments list (/staff/payments/) with its filters, one payment with its
Daraja callbacks, the Payments card and the offline payment form on the staff member page."""

import datetime
import html
import json
import re

import pytest
from django.db import connection
from django.http import QueryDict
from django.utils import timezone

from audit.models import AuditLog
from dashboard.payments import views as payment_views
from dashboard.payments.filters import PaymentFilter, payment_list_queryset
from members.models import Member
from payments.models import MpesaCallback, Payment
from payments.services import payment_record_offline
from tests.factories import MemberFactory
from tests.idor import assert_nothing_of, their_object

pytestmark = pytest.mark.django_db

ACTORS = ["anonymous", "member", "no_role", "staff", "finance", "admin"]
ALLOWED = {"finance", "admin"}


_counter = iter(range(1, 10**6))


def make_payment(member, *, status="completed", created=None, **fields):
    """A payment row as the services leave it (test data; the services are tested elsewhere)."""
    n = next(_counter)
    values = {
        "payment_type": "registration",
        "method": "mpesa",
        "amount": 5000,
        "phone_number": member.phone_number,
        "status": status,
        "checkout_request_id": f"ws_CO_TEST{n:06d}",
    }
    if status == "completed":
        values.update(
            receipt_number=f"RCT-2020-{n:06d}",
            mpesa_receipt_number=f"TKQ{n:07d}",
            completed_at=timezone.now(),
        )
    values.update(fields)
    payment = Payment.objects.create(member=member, **values)
    if created is not None:
        Payment.objects.filter(pk=payment.pk).update(created_at=created)
        payment.refresh_from_db()
    return payment


def nairobi(year, month, day, hour=12):
    return timezone.make_aware(datetime.datetime(year, month, day, hour))


def page_text(response):
    return html.unescape(response.content.decode())


def listed(response):
    """The payment references on the list page, in the order shown."""
    return re.findall(r'href="/staff/payments/([\w-]+)/"', response.content.decode())


# --- Permissions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize("page", ["list", "detail"])
def test_payment_pages_open_only_for_finance_and_admin(client, alice, login_as, who, page):
    payment = make_payment(alice)
    url = "/staff/payments/" if page == "list" else f"/staff/payments/{payment.reference}/"
    login_as(who)
    response = client.get(url)
    if who == "anonymous":
        assert response.status_code == 302
        assert response["Location"] == f"/login/?next={url}"
    elif who in ALLOWED:
        assert response.status_code == 200
        assert payment.receipt_number in response.content.decode()
    else:
        assert response.status_code == 403
        assert payment.receipt_number not in response.content.decode()


def test_the_permission_is_finance_and_admin_by_role():
    from accounts.roles import FINANCE, ROLE_PERMISSIONS, STAFF

    assert "payments.view_all_payments" in ROLE_PERMISSIONS[FINANCE]
    assert "payments.view_all_payments" not in ROLE_PERMISSIONS[STAFF]


def test_an_unknown_payment_is_404(client, finance_user):
    client.force_login(finance_user)
    assert client.get("/staff/payments/no-such-payment/").status_code == 404


def test_the_payment_pages_refuse_post(client, alice, finance_user):
    payment = make_payment(alice)
    client.force_login(finance_user)
    assert client.post("/staff/payments/").status_code == 405
    assert client.post(f"/staff/payments/{payment.reference}/").status_code == 405


def test_finance_may_download_any_members_receipt(client, alice, finance_user, staff_user):
    payment = make_payment(alice)
    client.force_login(finance_user)
    response = client.get(f"/payments/{payment.reference}/receipt/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    # The Staff role handles applications, not money: Alice's receipt is a 404 with nothing of hers.
    their_object(Payment, payment.pk, member=alice, receipt_number=payment.receipt_number)
    client.force_login(staff_user)
    for path in (f"/payments/{payment.reference}/receipt/", f"/payments/{payment.reference}/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert_nothing_of(alice, response, payment.receipt_number, payment.mpesa_receipt_number)


# --- Filters -----------------------------------------------------------------------------------------------


@pytest.fixture
def ledger(alice, bob):
    """Payments of every kind, on known days."""
    Member.objects.filter(pk=alice.pk).update(membership_number="KTS-2026-0042", phone_number="254712345678")
    alice.refresh_from_db()
    return {
        "paid": make_payment(alice, created=nairobi(2026, 3, 1), phone_number="254712345678"),
        "failed": make_payment(
            bob, status="failed", created=nairobi(2026, 3, 2), result_code="1", result_description="Insufficient funds"
        ),
        "cancelled": make_payment(bob, status="cancelled", created=nairobi(2026, 3, 3), result_code="1032"),
        "timeout": make_payment(bob, status="timeout", created=nairobi(2026, 4, 1)),
        "pending": make_payment(alice, status="pending", created=nairobi(2026, 4, 2), phone_number="254712345678"),
        "renewal": make_payment(alice, payment_type="renewal", amount=3000, created=nairobi(2026, 4, 3)),
        "cash": make_payment(
            bob,
            method="cash",
            phone_number="",
            checkout_request_id=None,
            mpesa_receipt_number=None,
            external_reference="EQ 88121",
            amount=2000,
            created=nairobi(2026, 5, 1),
        ),
    }


def filtered(params):
    filterset = PaymentFilter(QueryDict(params), queryset=payment_list_queryset())
    assert filterset.is_valid(), filterset.errors
    return list(filterset.qs)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("", ["cash", "renewal", "pending", "timeout", "cancelled", "failed", "paid"]),
        ("status=completed", ["cash", "renewal", "paid"]),
        ("status=failed", ["failed"]),
        ("status=pending", ["pending"]),
        ("status=unsuccessful", ["timeout", "cancelled", "failed"]),
        ("payment_type=renewal", ["renewal"]),
        ("method=cash", ["cash"]),
        ("method=mpesa&status=completed", ["renewal", "paid"]),
        ("created_after=2026-03-02&created_before=2026-04-01", ["timeout", "cancelled", "failed"]),
        ("created_after=2026-04-02", ["cash", "renewal", "pending"]),
        ("created_before=2026-03-01", ["paid"]),
        ("ordering=amount", ["cash", "renewal", "paid", "failed", "cancelled", "timeout", "pending"]),
        ("ordering=-amount", ["pending", "timeout", "cancelled", "failed", "paid", "renewal", "cash"]),
        ("ordering=date", ["paid", "failed", "cancelled", "timeout", "pending", "renewal", "cash"]),
        ("q=Eq  88121", ["cash"]),
        ("q=eq 88121&method=bank", []),
        ("q=0712 345 678", ["renewal", "pending", "paid"]),  # the paying phone, and the member's own
        ("q=%2B254 712 345 678", ["renewal", "pending", "paid"]),
        ("q=kts-2026-0042", ["renewal", "pending", "paid"]),
        ("q=KTS-2026-9999", []),
        ("q=nothing-like-this", []),
    ],
)
def test_the_filters_select_exactly_the_matching_payments(ledger, params, expected):
    # Amount order breaks ties by id in the same direction: equal amounts keep their creation order.
    assert [p.pk for p in filtered(params)] == [ledger[name].pk for name in expected]


def test_free_text_finds_a_payment_by_each_of_its_identifiers(ledger):
    paid = ledger["paid"]
    for text in (
        paid.reference,
        paid.receipt_number.lower(),
        f" {paid.receipt_number} ",
        paid.mpesa_receipt_number.lower(),
        paid.checkout_request_id,
    ):
        assert filtered(f"q={text}") == [paid], text


def test_the_list_page_filters_highlights_and_links(client, finance_user, ledger):
    client.force_login(finance_user)
    response = client.get("/staff/payments/", {"status": "unsuccessful"})
    assert response.status_code == 200
    assert listed(response) == [ledger[n].reference for n in ("timeout", "cancelled", "failed")]
    page = response.content.decode()
    rows = re.findall(r'<tr class="payment-row ?([^"]*)" data-status="(\w+)">', page)
    assert rows == [("table-warning", "timeout"), ("table-warning", "cancelled"), ("table-danger", "failed")]
    text = page_text(response)
    # Not colour alone: each row says its status in words, with the reason when there is one.
    assert "Failed" in text and "Cancelled" in text and "Timed out" in text and "Insufficient funds" in text
    assert "3 payments." in text

    response = client.get("/staff/payments/")
    page = response.content.decode()
    assert re.search(r'class="payment-row table-info" data-status="pending"', page)
    assert re.search(r'class="payment-row" data-status="completed"', page)
    paid = ledger["paid"]
    assert f'href="/payments/{paid.reference}/receipt/"' in page
    assert f'href="/staff/members/{paid.member_id}/"' in page


def test_the_sort_links_keep_the_filters_and_toggle(client, finance_user, ledger):
    client.force_login(finance_user)
    page = page_text(client.get("/staff/payments/", {"method": "mpesa", "ordering": "-amount", "page": "1"}))
    assert 'href="?method=mpesa&ordering=amount"' in page  # amount: toggles, page dropped
    assert 'href="?method=mpesa&ordering=-date"' in page
    assert 'aria-sort="descending"' in page


@pytest.mark.parametrize(
    "params",
    [
        {"created_after": "yesterday"},
        {"status": "lost"},
        {"method": "bitcoin"},
        {"ordering": "phone_number"},
        {"page": "x", "per_page": "7"},  # pages and sizes are forgiving: 200
    ],
)
def test_bad_filters_answer_with_a_message_never_a_500(client, finance_user, ledger, params):
    client.force_login(finance_user)
    response = client.get("/staff/payments/", params)
    if "page" in params:
        assert response.status_code == 200
        assert len(listed(response)) == 7
    else:
        assert response.status_code == 400
        assert "Some filters were not understood" in response.content.decode()
        assert listed(response) == []


def test_pagination_is_capped_and_keeps_the_filters(client, finance_user, alice, monkeypatch):
    for _ in range(30):
        make_payment(alice, status="failed")
    monkeypatch.setattr(payment_views, "COUNT_CAP", 26)
    client.force_login(finance_user)
    response = client.get("/staff/payments/", {"status": "failed"})
    text = page_text(response)
    assert "more than 26 payments: narrow the filters to see them all." in text
    assert 'href="?status=failed&page=2"' in text
    second = client.get("/staff/payments/", {"status": "failed", "page": "2"})
    assert len(listed(second)) == 1  # the cap: nothing beyond row 26 is offered


def test_the_list_makes_the_same_queries_for_any_page_size(
    client, finance_user, reference_data, django_assert_num_queries
):
    members = [MemberFactory() for _ in range(12)]
    for index in range(120):
        make_payment(members[index % 12], status=["completed", "failed", "pending"][index % 3])
    client.force_login(finance_user)
    client.get("/staff/payments/")  # warm what is cached per process
    # Session, user, the session's two-factor device (django-otp), the user's own and group permissions, the
    # menu's membership link and unread count, the count of payments not applied (a partial index), the capped
    # count and the page (payments with their members and users, one join).
    for size in ("25", "100"):
        with django_assert_num_queries(10):
            response = client.get("/staff/payments/", {"per_page": size})
        assert len(listed(response)) == int(size)
    with django_assert_num_queries(11):  # a search looks up the members a number or phone names first
        response = client.get("/staff/payments/", {"per_page": "100", "q": members[0].phone_number})
    assert len(listed(response)) == 10


# --- Query plans (PostgreSQL) ------------------------------------------------------------------------------

BULK_ROWS = 10_000


@pytest.fixture
def many_payments(alice, bob):
    """10,000 payments shaped like production (mostly completed M-Pesa; 1% cash; 2% timed out), analysed,
    so the planner chooses as it would on the real table rather than scanning a tiny one."""
    if connection.vendor != "postgresql":
        pytest.skip("Query plans are PostgreSQL's: set DATABASE_URL=postgres://...")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO payments_payment (
                reference, member_id, payment_type, method, amount, phone_number, status, merchant_request_id,
                checkout_request_id, result_code, result_description, result_source, callback_token,
                external_reference, created_at, updated_at, check_count)
            SELECT 'bulk' || g, CASE WHEN mod(g, 2) = 0 THEN %s ELSE %s END,
                   (ARRAY['registration', 'renewal', 'late_payment'])[1 + mod(g, 3)],
                   CASE WHEN mod(g, 100) = 0 THEN 'cash' ELSE 'mpesa' END,
                   (ARRAY[5000, 3000, 4000, 500])[1 + mod(g, 4)],
                   CASE WHEN mod(g, 100) = 0 THEN '' ELSE '2547' || lpad(g::text, 8, '0') END,
                   CASE WHEN mod(g, 50) = 7 THEN 'timeout' WHEN mod(g, 10) = 3 THEN 'failed' ELSE 'completed' END,
                   '', 'ws_CO_bulk' || g, '', '', '', 'bulk-token-' || g,
                   CASE WHEN mod(g, 100) = 0 THEN 'SLIP-' || g ELSE '' END,
                   now() - g * interval '1 minute', now(), 0
            FROM generate_series(1, %s) AS g
            """,
            [alice.pk, bob.pk, BULK_ROWS],
        )
        cursor.execute("ANALYZE payments_payment")


def plan_of(params):
    filterset = PaymentFilter(QueryDict(params), queryset=payment_list_queryset())
    assert filterset.is_valid()
    sql, sql_params = filterset.qs[:25].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, sql_params)
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("params", "scan"),
    [
        ("", "Index Scan Backward using payments_payment_created_at"),
        ("ordering=-amount", "Index Scan Backward using payments_amount_id_idx"),
        ("ordering=amount", "Index Scan using payments_amount_id_idx"),
        ("method=cash", "Index Scan Backward using payments_offline_created_idx"),
        ("status=timeout", "Index Scan Backward using payments_status_created_idx"),
        ("status=pending", "Index Scan Backward using payments_pending_idx"),
        ("applied=unapplied", "Index Scan Backward using payments_unapplied_idx"),
        ("applied=settled", "Index Scan Backward using payments_unapplied_idx"),
    ],
)
def test_each_list_order_and_filter_reads_an_index_in_order(many_payments, params, scan):
    plan = plan_of(params)
    assert scan in plan, plan
    assert "Seq Scan on payments_payment" not in plan, plan


@pytest.mark.postgres
def test_free_text_search_is_an_or_of_index_lookups(many_payments, reference_data):
    carol = MemberFactory(membership_number="KTS-2026-0042")
    for _ in range(3):
        make_payment(carol)
    plan = plan_of("q=kts-2026-0042")
    assert "BitmapOr" in plan, plan
    for index in (
        "payments_payment_reference",
        "payments_payment_receipt_number",
        "payments_payment_mpesa_receipt_number",
        "payments_payment_checkout_request_id",
        "payments_offline_reference_uniq",
    ):
        assert index in plan, plan
    assert f"Index Cond: (member_id = {carol.pk})" in plan, plan
    assert "Seq Scan on payments_payment" not in plan, plan

    plan = plan_of("q=0700 000 123")  # a paying phone number of one bulk payment
    assert "BitmapOr" in plan and "payments_phone_idx" in plan, plan
    assert "Seq Scan on payments_payment" not in plan, plan


# --- One payment -------------------------------------------------------------------------------------------


def test_the_payment_page_shows_every_field_the_member_and_the_receipt(client, finance_user, alice, bob):
    payment = make_payment(alice, result_code="0", result_description="Processed", result_source="callback")
    client.force_login(finance_user)
    response = client.get(f"/staff/payments/{payment.reference}/")
    text = page_text(response)
    for value in (
        payment.reference,
        payment.receipt_number,
        payment.mpesa_receipt_number,
        payment.checkout_request_id,
        payment.phone_number,
        "Registration fee",
        "KES 5,000",
        "M-Pesa",
        "Completed",
        "0: Processed",
        "callback",
        alice.full_name,
    ):
        assert value in text, value
    assert f'href="/staff/members/{alice.pk}/"' in text
    assert f'href="/payments/{payment.reference}/receipt/"' in text
    assert payment.callback_token not in text  # the callback URL's secret stays secret
    assert "No callback from Daraja for this payment." in text


def test_the_payment_page_shows_the_raw_callbacks_escaped_and_pretty(client, finance_user, alice):
    payment = make_payment(alice, status="failed", result_code="1", result_description="Insufficient funds")
    body = {"Body": {"stkCallback": {"ResultCode": 1, "ResultDesc": "<script>alert(1)</script>"}}}
    good = MpesaCallback.objects.create(
        payment=payment,
        body=json.dumps(body),
        source_ip="196.201.214.200",
        outcome=MpesaCallback.Outcome.APPLIED,
        detail="failed (1)",
    )
    broken = MpesaCallback.objects.create(
        payment=payment,
        body="not json <b>",
        source_ip="10.0.0.9",
        outcome=MpesaCallback.Outcome.ERROR,
        detail="ValueError: boom",
        traceback="Traceback (most recent call last):\n  ValueError: boom",
    )
    client.force_login(finance_user)
    response = client.get(f"/staff/payments/{payment.reference}/")
    page = response.content.decode()
    assert "<script>alert(1)</script>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    text = page_text(response)
    assert '{\n  "Body": {\n    "stkCallback": {\n      "ResultCode": 1,' in text  # indented
    assert "196.201.214.200" in text and "Applied" in text and "failed (1)" in text
    assert "not json <b>" in text and "10.0.0.9" in text
    assert text.count("Traceback (most recent call last)") == 1
    assert page.index(f'id="callback-{good.pk}"') < page.index(f'id="callback-{broken.pk}"')
    assert "Not paid (failed): Insufficient funds." in text


def test_an_offline_payment_page_says_who_recorded_it(client, finance_user, approved_alice):
    payment = payment_record_offline(
        member=approved_alice, method="bank", external_reference="FT-991", actor=finance_user
    )
    client.force_login(finance_user)
    text = page_text(client.get(f"/staff/payments/{payment.reference}/"))
    assert "Bank transfer" in text and "FT-991" in text and payment.receipt_number in text
    assert f"Payment recorded by {finance_user}" in text
    assert "None: this payment was recorded by staff, not paid by M-Pesa." in text


# --- The staff member page ---------------------------------------------------------------------------------


def test_the_member_page_lists_the_latest_ten_payments_for_finance(client, finance_user, staff_user, alice):
    payments = [make_payment(alice, status="failed", created=nairobi(2026, 1, day)) for day in range(1, 13)]
    client.force_login(finance_user)
    page = client.get(f"/staff/members/{alice.pk}/").content.decode()
    card = page[page.index('id="member-payments"') :]
    shown = re.findall(r'href="/staff/payments/([\w-]+)/"', card)
    assert shown == [p.reference for p in reversed(payments)][:10]
    assert "list-group-item-danger" in card and "Failed" in card

    client.force_login(staff_user)
    page = client.get(f"/staff/members/{alice.pk}/").content.decode()
    assert 'id="member-payments"' not in page and "/staff/payments/" not in page


def test_the_offline_form_shows_what_is_due_to_finance_only(client, finance_user, staff_user, alice):
    client.force_login(finance_user)
    text = page_text(client.get(f"/staff/members/{alice.pk}/"))
    assert "Record a payment received offline" in text
    assert "Due now: KES 5,000, the Full / Professional registration fee." in re.sub(r"<[^>]+>", "", text)
    assert '<input type="number" name="amount" value="5000"' in text
    assert "Record KES 5,000 received" in text

    client.force_login(staff_user)
    assert "Record a payment received offline" not in page_text(client.get(f"/staff/members/{alice.pk}/"))

    Member.objects.filter(pk=alice.pk).update(registration_paid_at=timezone.now())
    client.force_login(finance_user)
    assert "Record a payment received offline" not in page_text(client.get(f"/staff/members/{alice.pk}/"))


def test_the_offline_form_warns_of_an_open_mpesa_prompt(client, finance_user, alice):
    make_payment(alice, status="pending")
    client.force_login(finance_user)
    text = page_text(client.get(f"/staff/members/{alice.pk}/"))
    assert "An M-Pesa payment of KES 5,000 started" in text and "is still pending" in text


def test_recording_through_the_page_gives_a_receipt_and_activates(client, finance_user, approved_alice):
    year = timezone.localdate().year
    client.force_login(finance_user)
    url = f"/staff/members/{approved_alice.pk}/record-payment/"
    data = {"method": "cheque", "reference": "chq 000777", "amount": "5000", "received_on": ""}
    response = client.post(url, data)
    assert response.status_code == 302 and response["Location"] == f"/staff/members/{approved_alice.pk}/"
    text = page_text(client.get(response["Location"]))
    assert (
        f"Recorded the registration fee of KES 5,000 for {approved_alice.full_name}, paid by cheque (CHQ 000777). "
        f"Receipt RCT-{year}-000001."
    ) in text
    assert "Active" in text
    payment = Payment.objects.get()
    assert (payment.method, payment.external_reference, payment.initiated_by) == ("cheque", "CHQ 000777", finance_user)
    entry = AuditLog.objects.get(action=AuditLog.Action.PAYMENT_RECORDED, target_type="payments.payment")
    assert entry.actor == finance_user and entry.ip_address == "127.0.0.1"

    # The second click of a double-click: refused with the reason, nothing more written.
    again = client.post(url, data)
    assert again.status_code == 400
    assert f"Cheque reference CHQ 000777 is already recorded: receipt RCT-{year}-000001" in page_text(again)
    assert Payment.objects.count() == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"method": "", "reference": "X1"}, "Choose how the money was paid: cash, cheque or bank transfer."),
        ({"method": "mpesa", "reference": "X1"}, "Choose how the money was paid: cash, cheque or bank transfer."),
        ({"method": "cash", "reference": "  "}, "Enter the payment reference."),
        (
            {"method": "cash", "reference": "X1", "received_on": "2099-01-01"},
            "The date received cannot be in the future.",
        ),
        ({"method": "cash", "reference": "X1", "received_on": "26/11"}, "Enter the date received as a date"),
        ({"method": "cash", "reference": "X1", "amount": "3000"}, "The amount due is KES 5,000"),
        ({"method": "cash", "reference": "X1", "amount": "lots"}, "Enter the amount received in whole shillings"),
        ({"method": "cash", "reference": "X1", "amount": "0"}, "Enter the amount received in whole shillings"),
        ({"method": "cash", "reference": "X1", "amount": ""}, "Enter the amount received."),
    ],
)
def test_bad_offline_payments_re_render_with_400_and_the_message(client, finance_user, approved_alice, data, message):
    client.force_login(finance_user)
    data = {"amount": "5000", **data}
    response = client.post(f"/staff/members/{approved_alice.pk}/record-payment/", data)
    assert response.status_code == 400
    text = page_text(response)
    assert message in text
    assert "Record a payment received offline" in text  # the form is back, with what was typed
    if data["reference"].strip():
        assert f'value="{data["reference"]}"' in text
    assert not Payment.objects.exists()
    assert Member.objects.get(pk=approved_alice.pk).status == Member.Status.APPROVED


def test_nothing_due_answers_400_with_the_reason(client, finance_user, approved_alice):
    payment_record_offline(member=approved_alice, method="cash", external_reference="C-1", actor=finance_user)
    client.force_login(finance_user)
    response = client.post(
        f"/staff/members/{approved_alice.pk}/record-payment/", {"method": "cash", "reference": "C-2", "amount": "5000"}
    )
    assert response.status_code == 400
    assert "Nothing is due on this membership right now" in page_text(response)
    assert Payment.objects.count() == 1


def test_money_received_earlier_is_recorded_at_what_was_due_that_day(client, finance_user, alice):
    """Today the late fee applies (KES 4,000 shown); the slip is from within the grace period (KES 3,000)."""
    end = timezone.localdate() - datetime.timedelta(days=40)
    Member.objects.filter(pk=alice.pk).update(
        status=Member.Status.EXPIRED,
        applied_at=timezone.now() - datetime.timedelta(days=800),
        activated_at=timezone.now() - datetime.timedelta(days=700),
        registration_paid_at=timezone.now() - datetime.timedelta(days=700),
        period_start=end - datetime.timedelta(days=364),
        period_end=end,
    )
    received = end + datetime.timedelta(days=5)
    client.force_login(finance_user)
    page = page_text(client.get(f"/staff/members/{alice.pk}/"))
    assert '<input type="number" name="amount" value="4000"' in page

    url = f"/staff/members/{alice.pk}/record-payment/"
    data = {"method": "bank", "reference": "FT-1", "amount": "4000", "received_on": received.isoformat()}
    response = client.post(url, data)
    assert response.status_code == 400
    assert "The amount due is KES 3,000 (Full / Professional renewal), not KES 4,000." in page_text(response)
    assert '<input type="number" name="amount" value="4000"' in page_text(response)  # as typed, to correct

    response = client.post(url, {**data, "amount": "3000"})
    assert response.status_code == 302
    payment = Payment.objects.get()
    assert (payment.payment_type, payment.amount) == ("renewal", 3000)
    assert timezone.localdate(payment.completed_at) == received
