"""Paybill and Till payments (C2B, issue 14 part 1 and validation): URL registration, the confirmation and
validation endpoints, idempotency by TransID, refusals, and a database outage. Real HTTP against the local
Daraja simulator where it can drive the flow (register, then a customer pays)."""

import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.db.models import Count
from django.test import Client

from audit.models import AuditLog
from core.log_redaction import mask_callback_tokens
from payments import c2b
from payments.models import C2BConfirmation, Payment
from payments.services import callback_recover, payment_complete
from payments.transitions import Confirmation, MpesaReceiptAlreadyUsed
from tests.concurrency import run_together
from tests.factories import MemberFactory, load_reference_data

SHORTCODE = "600984"
SECRET = "c2b-secret-" + "x" * 40
PAYER = "254708374149"
CONFIRMED = {"ResultCode": 0, "ResultDesc": "Success"}
VALIDATION_ACCEPTED = {"ResultCode": "0", "ResultDesc": "Accepted"}
Status = C2BConfirmation.Status


@pytest.fixture(autouse=True)
def c2b_on(settings):
    settings.MPESA_C2B_SHORTCODE = SHORTCODE
    settings.MPESA_C2B_URL_SECRET = SECRET
    settings.MPESA_C2B_VALIDATION = False
    settings.MPESA_C2B_API_VERSION = "v2"
    settings.MPESA_C2B_RESPONSE_TYPE = "Completed"


def confirmation_url(secret=SECRET):
    return f"/api/c2b/{secret}/confirmation/"


def validation_url(secret=SECRET):
    return f"/api/c2b/{secret}/validation/"


def payload(**changes):
    body = {
        "TransactionType": "Pay Bill",
        "TransID": "TKL51ZDR4F",
        "TransTime": "20261121121325",
        "TransAmount": "1500.00",
        "BusinessShortCode": SHORTCODE,
        "BillRefNumber": "KTS-2026-0042",
        "InvoiceNumber": "",
        "OrgAccountBalance": "25.00",
        "ThirdPartyTransID": "",
        "MSISDN": "2547 ***** 149",
        "FirstName": "NICHOLAS",
        "MiddleName": "",
        "LastName": "",
    }
    body.update(changes)
    return body


def post(client, body, url=None):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(url or confirmation_url(), data, content_type="application/json")


def rejections():
    return AuditLog.objects.filter(action=AuditLog.Action.SECURITY_EVENT, data__event="c2b_rejected")


# --- Through the simulator: register, then a customer pays -------------------------------------------------


def register(live_server, **options):
    out = io.StringIO()
    call_command("register_c2b_urls", base_url=live_server.url, stdout=out, **options)
    return out.getvalue()


def paid(sim, **extra):
    sim.c2b_pay(shortcode=SHORTCODE, amount=1500, msisdn=PAYER, bill_ref="kts 2026 42", first_name="JANE", **extra)
    sim.wait_for_deliveries(1, timeout=10)
    sim.wait_until_idle(timeout=10)
    return sim.deliveries


@pytest.mark.django_db(transaction=True)
def test_registered_urls_receive_a_v2_paybill_payment_with_the_phone_masked(daraja, live_server):
    output = register(live_server)

    assert "ResponseCode 0 'Success'" in output
    assert "API version:      v2" in output and "response type:    Completed" in output
    assert f"{live_server.url}/api/c2b/********/confirmation/" in output
    assert SECRET not in output, "the URL secret is printed"
    registration = daraja.c2b["registrations"][SHORTCODE]
    assert registration["version"] == "v2" and registration["response_type"] == "Completed"
    assert registration["confirmation_url"] == f"{live_server.url}/api/c2b/{SECRET}/confirmation/"
    assert registration["validation_url"] == f"{live_server.url}/api/c2b/{SECRET}/validation/"

    deliveries = paid(daraja)

    assert [(d["kind"], d["status"]) for d in deliveries] == [("c2b_confirmation", 200)]
    assert json.loads(deliveries[0]["response_body"]) == CONFIRMED
    row = C2BConfirmation.objects.get()
    trans_id = daraja.c2b["payments"][0]["trans_id"]
    assert (row.kind, row.status, row.trans_id) == ("confirmation", Status.RECEIVED, trans_id)
    assert row.amount == 1500 and row.business_short_code == SHORTCODE
    assert row.bill_ref_number == "kts 2026 42" and row.trans_type == "Pay Bill"
    assert row.msisdn == "2547 ***** 149", "v2 masks the payer's number; it is kept as delivered"
    assert (row.first_name, row.last_name) == ("JANE", "DOE")
    assert row.trans_time is not None and row.org_account_balance == "1500.00"
    assert json.loads(row.body)["TransID"] == trans_id, "the raw delivery is stored"
    assert row.source_ip == "127.0.0.1" and row.processed_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_v1_registration_receives_the_phone_hashed(daraja, live_server):
    output = register(live_server, api_version="v1", response_type="Cancelled")
    assert "API version:      v1" in output and "response type:    Cancelled" in output

    paid(daraja)

    row = C2BConfirmation.objects.get()
    assert row.status == Status.RECEIVED
    assert row.msisdn == hashlib.sha256(PAYER.encode()).hexdigest()


@pytest.mark.django_db(transaction=True)
@pytest.mark.security_check(4)
def test_validation_refuses_a_payment_to_another_shortcode_and_no_confirmation_follows(daraja, live_server, settings):
    register(live_server)
    daraja.configure(c2b_external_validation=True)
    settings.MPESA_C2B_VALIDATION = True
    settings.MPESA_C2B_SHORTCODE = "600999"  # the payment is for the shortcode registered before: not ours now

    deliveries = paid(daraja)

    assert [d["kind"] for d in deliveries] == ["c2b_validation"]
    assert json.loads(deliveries[0]["response_body"]) == {"ResultCode": "C2B00015", "ResultDesc": "Rejected"}
    assert daraja.c2b["payments"][0]["status"] == "rejected"
    row = C2BConfirmation.objects.get()
    assert (row.kind, row.status) == ("validation", Status.REJECTED)
    assert rejections().count() == 1


@pytest.mark.django_db(transaction=True)
def test_validation_on_accepts_a_payment_to_our_shortcode_then_the_confirmation_is_stored(
    daraja, live_server, settings, reference_data
):
    MemberFactory(membership_number="KTS-2026-0042")  # the account the payer types, "kts 2026 42"
    register(live_server)
    daraja.configure(c2b_external_validation=True)
    settings.MPESA_C2B_VALIDATION = True

    deliveries = paid(daraja)
    daraja.wait_for_deliveries(2, timeout=10)
    daraja.wait_until_idle(timeout=10)

    deliveries = daraja.deliveries
    assert [d["kind"] for d in deliveries] == ["c2b_validation", "c2b_confirmation"]
    assert json.loads(deliveries[0]["response_body"]) == VALIDATION_ACCEPTED
    kinds = dict(C2BConfirmation.objects.values_list("kind", "status"))
    assert kinds == {"validation": Status.RECEIVED, "confirmation": Status.RECEIVED}


# --- The confirmation endpoint -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.security_check(4)
def test_a_confirmation_for_another_shortcode_is_stored_rejected_and_audited(client):
    response = post(client, payload(BusinessShortCode="174379"))

    assert response.status_code == 200 and response.json() == CONFIRMED
    row = C2BConfirmation.objects.get()
    assert row.status == Status.REJECTED and row.detail == "wrong shortcode 174379"
    assert row.trans_id == "TKL51ZDR4F", "the parsed fields are kept for Finance"
    assert list(rejections().values_list("data__detail", flat=True)) == ["wrong shortcode 174379"]


BAD_BODIES = {
    "not-json": b"TransID=TKL51ZDR4F&TransAmount=5",
    "json-list": b'[{"TransID": "TKL51ZDR4F"}]',
    "amount-float": json.dumps(payload(TransAmount=1500.0)).encode(),
    "amount-bool": json.dumps(payload(TransAmount=True)).encode(),
    "amount-object": json.dumps(payload(TransAmount={"value": "1500"})).encode(),
    "amount-negative": json.dumps(payload(TransAmount="-5.00")).encode(),
    "amount-zero": json.dumps(payload(TransAmount="0.00")).encode(),
    "amount-words": json.dumps(payload(TransAmount="1e9")).encode(),
    "no-transid": json.dumps(payload(TransID=None)).encode(),
    "transid-number": json.dumps(payload(TransID=12345678)).encode(),
    "transid-sql": json.dumps(payload(TransID="X' OR 1=1 --")).encode(),
    "name-list": json.dumps(payload(FirstName=["A", "B"])).encode(),
    "nul-byte": json.dumps(payload(BillRefNumber="KTS\x000042")).encode(),
    "shortcode-text": json.dumps(payload(BusinessShortCode="six")).encode(),
    "bad-time": json.dumps(payload(TransTime="20261341999999")).encode(),
    "deep-json": b'{"a":' * 5000 + b"1" + b"}" * 5000,
}


@pytest.mark.django_db
@pytest.mark.security_check(25)
@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_malformed_or_wrongly_typed_confirmation_is_answered_stored_rejected_and_audited(client, body):
    response = post(client, body)

    assert response.status_code == 200 and response.json() == CONFIRMED
    row = C2BConfirmation.objects.get()
    assert row.status == Status.REJECTED and row.detail.startswith("malformed: ")
    assert row.amount is None and row.trans_id is None, "nothing usable is taken from it"
    assert rejections().count() == 1


@pytest.mark.django_db
def test_an_amount_as_an_integer_is_taken(client):
    post(client, payload(TransAmount=1500, BusinessShortCode=int(SHORTCODE)))
    row = C2BConfirmation.objects.get()
    assert (row.status, row.amount, row.business_short_code) == (Status.RECEIVED, 1500, SHORTCODE)


@pytest.mark.django_db
@pytest.mark.parametrize("secret", ["", "wrong", SECRET[:-1], SECRET + "x"], ids=["empty", "wrong", "short", "long"])
def test_a_wrong_url_secret_is_a_404_and_stores_nothing(client, secret):
    for url in (confirmation_url(secret) if secret else "/api/c2b//confirmation/", validation_url(secret or "x")):
        assert post(client, payload(), url=url).status_code == 404
    assert C2BConfirmation.objects.count() == 0


@pytest.mark.django_db
def test_the_endpoints_are_off_without_a_shortcode(client, settings):
    settings.MPESA_C2B_SHORTCODE = ""
    assert post(client, payload()).status_code == 404
    assert C2BConfirmation.objects.count() == 0


@pytest.mark.django_db
def test_only_post_is_answered(client):
    assert client.get(confirmation_url()).status_code == 405


@pytest.mark.django_db
@pytest.mark.security_check(5)
def test_the_same_transid_three_times_is_one_received_and_two_duplicates(client):
    answers = [post(client, payload()).json() for _ in range(3)]

    assert answers == [CONFIRMED] * 3
    statuses = list(C2BConfirmation.objects.order_by("pk").values_list("status", flat=True))
    assert statuses == [Status.RECEIVED, Status.DUPLICATE, Status.DUPLICATE]
    first = C2BConfirmation.objects.order_by("pk").first()
    assert C2BConfirmation.objects.filter(status=Status.DUPLICATE, detail=f"TransID already received (row {first.pk})")


@pytest.mark.django_db
def test_a_rejected_copy_does_not_own_the_transid(client):
    post(client, payload(BusinessShortCode="174379"))
    post(client, payload())
    assert list(C2BConfirmation.objects.order_by("pk").values_list("status", flat=True)) == [
        Status.REJECTED,
        Status.RECEIVED,
    ]


@pytest.mark.django_db
@pytest.mark.security_check(5)
def test_a_transid_already_recorded_as_an_stk_receipt_is_rejected(client):
    load_reference_data()
    member = MemberFactory()
    stk = Payment.objects.create(
        member=member, payment_type="registration", amount=1500, status=Payment.Status.COMPLETED
    )
    Payment.objects.filter(pk=stk.pk).update(mpesa_receipt_number="TKL51ZDR4F")

    response = post(client, payload())

    assert response.json() == CONFIRMED
    row = C2BConfirmation.objects.get()
    assert row.status == Status.REJECTED
    assert row.detail == f"TransID TKL51ZDR4F is already the M-Pesa receipt of STK payment {stk.pk}"
    assert rejections().count() == 1


@pytest.mark.django_db
def test_processing_a_row_twice_changes_it_once(client):
    post(client, payload())
    row = C2BConfirmation.objects.get()
    before = (row.status, row.detail, row.processed_at)
    assert c2b.c2b_process(row) == Status.RECEIVED
    row.refresh_from_db()
    assert (row.status, row.detail, row.processed_at) == before


# --- Validation endpoint -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_validation_off_accepts_everything(client):
    for body in (payload(), payload(BusinessShortCode="174379"), b"nonsense"):
        assert post(client, body, url=validation_url()).json() == VALIDATION_ACCEPTED


@pytest.mark.django_db
def test_validation_on_refuses_a_wrong_shortcode_and_an_unknown_account(client, settings, reference_data):
    settings.MPESA_C2B_VALIDATION = True
    member = MemberFactory(membership_number="KTS-2026-0042")
    assert post(client, payload(BillRefNumber="kts 2026 42"), url=validation_url()).json() == VALIDATION_ACCEPTED
    assert post(client, payload(BillRefNumber=member.account_reference.lower()), url=validation_url()).json() == (
        VALIDATION_ACCEPTED
    )
    assert post(client, payload(BillRefNumber=""), url=validation_url()).json() == VALIDATION_ACCEPTED  # a Till
    assert post(client, payload(BusinessShortCode="174379"), url=validation_url()).json() == {
        "ResultCode": "C2B00015",
        "ResultDesc": "Rejected",
    }
    assert post(client, payload(BillRefNumber="KTS-2026-0043"), url=validation_url()).json() == {
        "ResultCode": "C2B00012",
        "ResultDesc": "Rejected",
    }
    assert post(client, b"nonsense", url=validation_url()).json() == VALIDATION_ACCEPTED
    assert C2BConfirmation.objects.filter(kind="validation").count() == 6


@pytest.mark.django_db
def test_a_validation_does_not_own_the_transid_of_its_confirmation(client):
    post(client, payload(), url=validation_url())
    post(client, payload())
    assert C2BConfirmation.objects.get(kind="confirmation").status == Status.RECEIVED


def test_validation_is_answered_when_the_database_is_down(client, monkeypatch, settings):
    settings.MPESA_C2B_VALIDATION = True

    def unavailable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(C2BConfirmation.objects, "create", unavailable)
    monkeypatch.setattr(c2b, "account_exists", unavailable)  # the account lookup cannot run either
    assert post(client, payload(), url=validation_url()).json() == VALIDATION_ACCEPTED


# --- A database outage (QUALITY check 23) ------------------------------------------------------------------


def spool_files(settings):
    return sorted(Path(settings.MPESA_CALLBACK_SPOOL_DIR).glob("[!.]*.json"))


@pytest.mark.django_db
@pytest.mark.security_check(23)
def test_a_confirmation_the_database_cannot_store_is_spooled_then_stored_once(client, monkeypatch, settings, tmp_path):
    with monkeypatch.context() as outage:

        def unavailable(*args, **kwargs):
            raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

        outage.setattr(C2BConfirmation.objects, "create", unavailable)
        response = post(client, payload())

    assert response.status_code == 200 and response.json() == CONFIRMED
    assert C2BConfirmation.objects.count() == 0
    files = spool_files(settings)
    assert len(files) == 1, "answered Success without keeping the confirmation"
    copy = tmp_path / files[0].name
    shutil.copy(files[0], copy)

    summary = callback_recover()

    assert summary["c2b_replayed"] == 1 and summary["quarantined"] == 0
    row = C2BConfirmation.objects.get()
    assert row.status == Status.RECEIVED and row.trans_id == "TKL51ZDR4F" and row.spool_id == files[0].stem
    assert spool_files(settings) == []
    recovered = AuditLog.objects.filter(data__event="c2b_recovered_from_spool")
    assert list(recovered.values_list("data__spool_id", flat=True)) == [row.spool_id]

    shutil.copy(copy, settings.MPESA_CALLBACK_SPOOL_DIR)  # the same file replayed again
    summary = callback_recover()
    assert summary["c2b_replayed"] == 0 and summary["already_stored"] == 1
    assert C2BConfirmation.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.security_check(23)
def test_a_confirmation_kept_nowhere_is_not_answered_success(client, monkeypatch, settings, tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    settings.MPESA_CALLBACK_SPOOL_DIR = blocked / "spool"

    def unavailable(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(C2BConfirmation.objects, "create", unavailable)
    response = post(client, payload())
    assert response.status_code == 503 and response.json()["ResultCode"] != 0


@pytest.mark.django_db
def test_a_stored_confirmation_left_unprocessed_is_processed_by_the_periodic_job(client, monkeypatch):
    def broken(delivery):
        raise OperationalError("server closed the connection unexpectedly")

    with monkeypatch.context() as outage:
        outage.setattr(c2b, "c2b_process", broken)
        assert post(client, payload()).json() == CONFIRMED
    row = C2BConfirmation.objects.get()
    assert row.processed_at is None and row.trans_id is None
    C2BConfirmation.objects.filter(pk=row.pk).update(received_at=row.received_at.replace(year=2020))

    assert callback_recover()["c2b_backlog_processed"] == 1
    row.refresh_from_db()
    assert row.status == Status.RECEIVED and row.trans_id == "TKL51ZDR4F"


# --- register_c2b_urls refusals, settings checks, logs -------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("base", "words"),
    [("https://mpesa.example.org", "mpesa"), ("https://pay.example.org/sql", "sql"), ("https://x.org/Exec", "exe")],
    ids=["mpesa", "sql", "exec"],
)
def test_register_refuses_urls_with_words_daraja_refuses(daraja, base, words):
    with pytest.raises(CommandError, match=f"Daraja refuses C2B URLs containing {words}"):
        call_command("register_c2b_urls", base_url=base)
    assert daraja.c2b["registrations"] == {}


@pytest.mark.django_db
def test_register_refuses_plain_http_in_production(settings, monkeypatch):
    settings.MPESA_ENVIRONMENT = "production"
    with pytest.raises(CommandError, match="must be https"):
        call_command("register_c2b_urls", base_url="http://members.example.org")


@pytest.mark.django_db
def test_register_refuses_while_c2b_is_off(settings):
    settings.MPESA_C2B_URL_SECRET = ""
    with pytest.raises(CommandError, match="C2B is off"):
        call_command("register_c2b_urls", base_url="https://members.example.org")


@pytest.mark.django_db
def test_register_reports_darajas_refusal(daraja, live_server):
    daraja.configure(c2b_api_version="v1")  # the app has the v1 product only: v2 answers 401.003.01
    with pytest.raises(CommandError, match="Daraja did not register the C2B URLs"):
        register(live_server)


def test_a_shortcode_without_a_long_url_secret_is_refused_at_start_up(settings):
    settings.MPESA_C2B_URL_SECRET = "short"
    assert "payments.E021" in {error.id for error in run_checks()}
    settings.MPESA_C2B_URL_SECRET = SECRET
    settings.MPESA_C2B_RESPONSE_TYPE = "completed"
    ids = {error.id for error in run_checks()}
    assert "payments.E021" not in ids and "payments.E023" in ids


@pytest.mark.security_check(18)
def test_the_url_secret_is_masked_in_access_logs():
    line = f'"POST /api/c2b/{SECRET}/confirmation/ HTTP/1.1" 200'
    assert mask_callback_tokens(line) == '"POST /api/c2b/********/confirmation/ HTTP/1.1" 200'


# --- Concurrency (PostgreSQL) -------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.security_check(5)
def test_the_same_transid_twenty_times_at_once_is_received_once():
    if connection.vendor != "postgresql":
        pytest.skip("Concurrency needs PostgreSQL: set DATABASE_URL=postgres://... (SQLite serialises writers).")
    body = json.dumps(payload())
    answers = []

    def deliver():
        answers.append(Client().post(confirmation_url(), body, content_type="application/json").json())

    errors = run_together([deliver] * 20)

    assert errors == []
    assert answers == [CONFIRMED] * 20
    counts = dict(C2BConfirmation.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    assert counts == {Status.RECEIVED: 1, Status.DUPLICATE: 19}
    assert rejections().count() == 0


@pytest.mark.security_check(18)
def test_nginxs_access_log_masks_the_url_secret():
    # Local: a test module's helper, not collected here as tests.
    from core.tests.test_access_log_masking import nginx_mask

    regex, value = nginx_mask()
    masked = regex.fullmatch(f"POST /api/c2b/{SECRET}/confirmation/ HTTP/1.1").expand(value)
    assert masked == "POST /api/c2b/********/confirmation/ HTTP/1.1"


@pytest.mark.django_db
@pytest.mark.security_check(4)
def test_with_the_ip_check_enforced_a_confirmation_from_elsewhere_is_rejected(client, settings):
    settings.MPESA_CALLBACK_IP_CHECK = "enforce"
    settings.MPESA_CALLBACK_ALLOWED_IPS = ["196.201.214.200"]

    assert post(client, payload()).json() == CONFIRMED
    assert (
        client.post(
            confirmation_url(),
            json.dumps(payload(TransID="TKL51ZDR4G")),
            content_type="application/json",
            REMOTE_ADDR="196.201.214.200",
        ).json()
        == CONFIRMED
    )

    rows = dict(C2BConfirmation.objects.values_list("trans_id", "status"))
    assert rows == {"TKL51ZDR4F": Status.REJECTED, "TKL51ZDR4G": Status.RECEIVED}
    assert list(rejections().values_list("data__detail", flat=True)) == [
        "source address 127.0.0.1 is not on the Safaricom allow-list"
    ]


@pytest.mark.django_db
@pytest.mark.security_check(5)
def test_an_stk_completion_with_a_receipt_already_a_c2b_transid_is_refused(client):
    """The reverse check: an STK payment cannot take a receipt that already came in as a Paybill payment."""
    load_reference_data()
    member = MemberFactory()
    stk = Payment.objects.create(member=member, payment_type="registration", amount=1500, phone_number=PAYER)
    post(client, payload())
    owner = C2BConfirmation.objects.get()

    with pytest.raises(MpesaReceiptAlreadyUsed, match=f"TransID of Paybill \\(C2B\\) confirmation {owner.pk}"):
        payment_complete(
            payment=stk,
            mpesa_receipt_number="TKL51ZDR4F",
            result_code="0",
            result_description="paid",
            source=Payment.Source.QUERY,
            confirmed_by=Confirmation.QUERY,
            confirmation={},
        )

    stk.refresh_from_db()
    assert stk.status == Payment.Status.PENDING and stk.mpesa_receipt_number is None
