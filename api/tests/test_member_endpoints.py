"""The member-facing API beyond the brief's examples: editing the profile, registering, receipts and the
certificate as PDFs, STK prompt limits, and scoping every id and reference to the caller."""

import datetime
import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from pypdf import PdfReader

from accounts.models import Consent
from audit.models import AuditLog
from daraja_simulator import outcomes
from members.api import ProfileUpdateSerializer, RegisterThrottle, RegistrationSerializer
from members.forms import RegistrationForm
from members.models import Document, Member, MembershipCategory
from members.profile import PROFILE_FIELDS
from members.sample_files import sample_jpeg, sample_pdf, sample_png
from payments.models import Payment
from payments.services import PaymentThrottled, payment_initiate_mpesa
from tests.factories import PASSWORD, MemberFactory, UserFactory
from tests.idor import assert_nothing_of, row_of, their_object

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
User = get_user_model()
NEW_PASSWORD = "Tree-lamp-Orbit-93"


def send(client, method, path, body=None, token=None, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    call = getattr(client, method)
    if body is None:
        return call(path, **headers, **extra)
    return call(path, data=json.dumps(body), content_type="application/json", **headers, **extra)


def login(client, email="member@example.com", password=PASSWORD):
    response = send(client, "post", "/api/auth/login/", {"username": email, "password": password})
    assert response.status_code == 200, response.content
    return response.json()["access"]


def pdf_text(content: bytes) -> str:
    return PdfReader(io.BytesIO(content)).pages[0].extract_text()


def completed_payment(member, receipt="RCT-2026-000001", **fields):
    return Payment.objects.create(
        member=member,
        payment_type="renewal",
        amount=1000,
        status=Payment.Status.COMPLETED,
        receipt_number=receipt,
        completed_at=timezone.now(),
        phone_number=member.phone_number,
        **fields,
    )


# --- PATCH /api/members/profile/ ----------------------------------------------------------------------------


def test_patch_profile_as_the_brief_shows(client, member):
    token = login(client)
    # The phone is the one on file (another spelling of it), so no password is needed.
    body = {"phone_number": "+254712345678", "physical_address": "New address"}
    response = send(client, "patch", "/api/members/profile/", body, token)
    assert response.status_code == 200, response.content
    assert response.json()["physical_address"] == "New address"
    assert response.json()["phone_number"] == "254712345678"
    assert response["Cache-Control"] == "no-store"
    member.refresh_from_db()
    assert member.physical_address == "New address"
    entry = AuditLog.objects.get(action=AuditLog.Action.PROFILE_CHANGED)
    assert entry.actor == member.user and entry.data == {"fields": ["physical_address"]}


def test_changing_the_phone_or_email_needs_the_current_password(client, member):
    token = login(client)
    url = "/api/members/profile/"
    response = send(client, "patch", url, {"phone_number": "0722 000 111"}, token)
    assert response.status_code == 400
    assert "password" in response.json()["error"]["fields"]["current_password"][0]
    response = send(client, "patch", url, {"email": "new@example.com", "current_password": "wrong"}, token)
    assert response.status_code == 400
    assert "not your current password" in response.json()["error"]["fields"]["current_password"][0]
    member.refresh_from_db()
    assert (member.phone_number, member.user.email) == ("254712345678", "member@example.com")

    body = {"phone_number": "0722 000 111", "email": " New@Example.com", "current_password": PASSWORD}
    response = send(client, "patch", url, body, token)
    assert response.status_code == 200, response.content
    member.refresh_from_db()
    assert (member.phone_number, member.user.email) == ("254722000111", "new@example.com")


def test_invalid_values_are_400s_with_field_errors_never_500s(client, member):
    token = login(client)
    url = "/api/members/profile/"
    response = send(client, "patch", url, {"phone_number": "12345", "current_password": PASSWORD}, token)
    assert response.status_code == 400
    assert "phone_number" in response.json()["error"]["fields"]
    response = send(
        client, "patch", url, {"physical_address": 12, "notify_by_sms": [1], "occupation": "x" * 500}, token
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"physical_address", "notify_by_sms"}
    response = send(client, "patch", url, {"occupation": "x" * 500}, token)
    assert response.status_code == 400 and "occupation" in response.json()["error"]["fields"]
    response = send(client, "patch", url, ["not", "an", "object"], token)
    assert response.status_code == 400
    member.refresh_from_db()
    assert member.physical_address == "Old address"
    assert not AuditLog.objects.filter(action=AuditLog.Action.PROFILE_CHANGED).exists()


@pytest.mark.security_check(3)
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "active"),
        ("membership_number", "KTS-2026-9999"),
        ("category", "full"),
        ("id_number", "99999999"),
        ("period_end", "2099-12-31"),
        ("first_name", "Mallory"),
        ("is_staff", True),
        ("is_superuser", True),
        ("registration_fee", 1),
        ("renewal_fee", 1),
        ("user", 1),
        ("groups", ["Admin"]),
    ],
)
def test_protected_fields_are_refused_by_name_and_nothing_changes(client, member, field, value):
    token = login(client)
    before = Member.objects.values().get(pk=member.pk)
    fees = MembershipCategory.objects.values("registration_fee", "renewal_fee").get(pk=member.category_id)
    body = {field: value, "physical_address": "Sneaked in", "current_password": PASSWORD}
    response = send(client, "patch", "/api/members/profile/", body, token)
    assert response.status_code == 400
    error = response.json()["error"]
    assert list(error["fields"]) == [field]
    assert Member.objects.values().get(pk=member.pk) == before  # not even the allowed field
    assert MembershipCategory.objects.values("registration_fee", "renewal_fee").get(pk=member.category_id) == fees
    user = User.objects.get(pk=member.user_id)
    assert not user.is_staff and not user.is_superuser
    assert not user.groups.filter(name="Admin").exists()


def test_the_update_serializer_lists_exactly_the_editable_fields():
    assert set(ProfileUpdateSerializer().fields) == {*PROFILE_FIELDS, "current_password"}


def test_password_checks_by_patch_are_throttled_per_user(client, member, monkeypatch):
    from members.api import ReauthThrottle

    monkeypatch.setattr(ReauthThrottle, "rate", "2/hour", raising=False)  # the setting is API_THROTTLE_REAUTH
    token = login(client)
    body = {"email": "x@example.com", "current_password": "guess"}
    for _ in range(2):
        assert send(client, "patch", "/api/members/profile/", body, token).status_code == 400
    response = send(client, "patch", "/api/members/profile/", {**body, "current_password": PASSWORD}, token)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0 and response.json()["error"]["retry_after_seconds"] > 0
    # Edits that check no password are not counted.
    assert send(client, "patch", "/api/members/profile/", {"occupation": "Surveyor"}, token).status_code == 200


# --- POST /api/members/register/ ----------------------------------------------------------------------------

SAMPLES = {"national_id": ("id.pdf", sample_pdf), "passport_photo": ("photo.jpg", sample_jpeg)}


def registration(category="associate", **overrides):
    """A complete multipart registration for the API, as a dict for the test client; None drops a key.
    The documents are those `category` requires (an unknown code in `overrides` gets the associate's)."""
    chosen = MembershipCategory.objects.filter(code=category).first() or MembershipCategory.objects.get(
        code="associate"
    )
    data = {
        "email": "grace.wanjiru@example.com",
        "password": NEW_PASSWORD,
        "first_name": "Grace",
        "other_names": "Njeri",
        "last_name": "Wanjiru",
        "id_type": "national_id",
        "id_number": "31234567",
        "date_of_birth": "1992-03-14",
        "gender": "female",
        "phone_number": "0712345678",
        "country": "ke",
        "region": "047",
        "physical_address": "Moi Avenue, Nairobi",
        "category": category,
        "accept_privacy_notice": "true",
    }
    for code in chosen.required_documents:
        name, make = SAMPLES.get(code, ("certificate.png", sample_png))
        data[f"document_{code}"] = SimpleUploadedFile(name, make())
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def register(client, data, **extra):
    return client.post("/api/members/register/", data, **extra)  # multipart, as the test client encodes it


def stored_files(settings):
    from pathlib import Path

    root = Path(settings.PRIVATE_MEDIA_ROOT)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def assert_nothing_stored(settings):
    assert not User.objects.filter(email="grace.wanjiru@example.com").exists()
    assert not Member.objects.filter(id_number="31234567").exists()
    assert not Document.objects.exists()
    assert stored_files(settings) == []


def test_register_creates_a_pending_member_and_answers_its_profile_without_tokens(client, reference_data):
    response = register(client, registration(), REMOTE_ADDR="198.51.100.23")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending" and body["membership_number"] is None
    assert body["email"] == "grace.wanjiru@example.com"
    assert (body["category"], body["country"], body["region"]) == ("associate", "KE", "047")
    assert body["phone_number"] == "254712345678"
    assert "access" not in body and "refresh" not in body and "password" not in body

    member = Member.objects.get(user__email="grace.wanjiru@example.com")
    assert sorted(member.documents.values_list("doc_type", flat=True)) == ["national_id", "passport_photo"]
    assert list(member.user.groups.values_list("name", flat=True)) == ["Member"]
    entry = AuditLog.objects.get(action=AuditLog.Action.REGISTERED)
    assert entry.actor == member.user and entry.ip_address == "198.51.100.23"
    consent = Consent.objects.get(user=member.user)
    assert (consent.purpose, consent.channel) == (Consent.Purpose.PRIVACY_NOTICE, Consent.Channel.API)
    # The client then logs in with what it registered.
    assert login(client, "grace.wanjiru@example.com", NEW_PASSWORD)


def test_the_privacy_notice_must_be_accepted(client, reference_data, settings):
    for value, message in ((None, "Accept the privacy notice"), ("false", "Accept the"), ("maybe", "true or false")):
        response = register(client, registration(accept_privacy_notice=value))
        assert response.status_code == 400
        fields = response.json()["error"]["fields"]
        assert list(fields) == ["accept_privacy_notice"]
        assert len(fields["accept_privacy_notice"]) == 1 and message in fields["accept_privacy_notice"][0]
    assert_nothing_stored(settings)
    assert not Consent.objects.exists()


def test_the_web_forms_rules_and_messages_apply(client, reference_data, member, settings):
    response = register(
        client,
        registration(
            email="MEMBER@example.com",
            password="short",
            region="001",  # Mombasa is 001 in Kenya; but this member says Uganda
            country="UG",
            date_of_birth="2030-01-01",
            category="nope",
        ),
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert "already exists" in fields["email"][0]
    assert "date_of_birth" in fields and "category" in fields
    assert "password" in fields and "password1" not in fields and "password2" not in fields
    assert "region" in fields
    assert_nothing_stored(settings)


def test_a_missing_required_document_is_named(client, reference_data, settings):
    response = register(client, registration(document_passport_photo=None))
    assert response.status_code == 400
    assert "needs this document" in response.json()["error"]["fields"]["document_passport_photo"][0]
    assert_nothing_stored(settings)


@pytest.mark.security_check(3)
@pytest.mark.parametrize("field", ["status", "membership_number", "is_staff", "registration_paid_at", "password1"])
def test_registration_refuses_fields_it_does_not_take(client, reference_data, settings, field):
    response = register(client, registration(**{field: "active"}))
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]
    assert_nothing_stored(settings)


PHP_SHELL = b"<?php system($_GET['c']); ?>"


@pytest.mark.security_check(7)
@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (lambda: SimpleUploadedFile("photo.jpg", PHP_SHELL), "content is not a JPEG"),
        (lambda: SimpleUploadedFile("photo.png", sample_png()[:16] + b"<html><script>x</script></html>"), "PNG"),
        (lambda: SimpleUploadedFile("photo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>'), "Upload a"),
        (lambda: SimpleUploadedFile("photo.jpg", b"\xff\xd8\xff" + b"0" * (2 * 1024 * 1024)), "the limit is 1 MB"),
    ],
    ids=["php-renamed-jpg", "png-header-then-html", "svg", "too-large"],
)
def test_hostile_uploads_are_400_with_the_field_and_nothing_is_stored(
    client, reference_data, settings, upload, message
):
    settings.DOCUMENT_MAX_UPLOAD_MB = 1
    response = register(client, registration(document_passport_photo=upload()))
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]
    assert list(fields) == ["document_passport_photo"]
    assert message in fields["document_passport_photo"][0]
    assert_nothing_stored(settings)


def multipart(fields, files):
    """Encode by hand: the test client strips directories from file names, a hostile client does not."""
    boundary = "----api-test-boundary-51c9"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    for key, (filename, content, content_type) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        parts.append(head + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.mark.security_check(7)
@pytest.mark.parametrize("sent_name", ["../../../photo.jpg", "..\\..\\photo.jpg", "/etc/cron.d/photo.jpg"])
def test_a_path_in_a_file_name_never_reaches_the_disk(client, reference_data, settings, tmp_path, sent_name):
    from pathlib import Path

    fields = {k: v for k, v in registration().items() if not k.startswith("document_")}
    photo = sample_jpeg()
    body, content_type = multipart(
        fields,
        {
            "document_national_id": ("id.pdf", sample_pdf(), "application/pdf"),
            "document_passport_photo": (sent_name, photo, "image/jpeg"),
        },
    )
    response = client.post("/api/members/register/", body, content_type=content_type)
    assert response.status_code == 201, response.content
    document = Document.objects.get(doc_type="passport_photo")
    assert document.original_name == "photo.jpg"
    stored = Path(document.file.path).resolve()
    assert stored.is_relative_to(Path(settings.PRIVATE_MEDIA_ROOT).resolve())
    assert stored.read_bytes() == photo
    assert list(tmp_path.rglob("photo.jpg")) == []


def test_the_api_takes_the_web_forms_fields_under_the_apis_names(reference_data):
    form_names = set(RegistrationForm().fields)
    api_names = set(RegistrationSerializer().fields)
    assert api_names == (form_names - {"password1", "password2"}) | {"password", "accept_privacy_notice"}


def test_registrations_are_throttled_per_address(client, reference_data, monkeypatch):
    monkeypatch.setattr(RegisterThrottle, "rate", "2/hour", raising=False)  # the setting is API_THROTTLE_REGISTER
    for _ in range(2):
        assert register(client, registration(accept_privacy_notice=None)).status_code == 400
    response = register(client, registration())
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0 and response.json()["error"]["retry_after_seconds"] > 0
    assert not Member.objects.exists()


# --- Receipts and the certificate -----------------------------------------------------------------------------


def test_the_receipt_of_a_completed_payment_is_a_pdf_attachment(client, member):
    payment = completed_payment(member, mpesa_receipt_number="TKQ1234567")
    token = login(client)
    response = send(client, "get", f"/api/payments/{payment.reference}/receipt/", token=token)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="receipt-RCT-2026-000001.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"
    text = pdf_text(response.content)
    assert "RCT-2026-000001" in text and "TKQ1234567" in text and "KES 1,000.00" in text
    # The web's receipt says the same.
    client.login(username="member@example.com", password=PASSWORD)
    assert pdf_text(client.get(f"/payments/{payment.reference}/receipt/").content) == text
    # Asking for the PDF by its type works too.
    assert (
        send(client, "get", f"/api/payments/{payment.reference}/receipt/", token=token, HTTP_ACCEPT="application/pdf")[
            "Content-Type"
        ]
        == "application/pdf"
    )


@pytest.mark.security_check(1)
def test_receipts_and_statuses_of_others_or_of_unfinished_payments_are_404(client, member, bob):
    theirs = completed_payment(bob, receipt="RCT-2026-000002")
    pending = Payment.objects.create(member=member, payment_type="renewal", amount=1000, phone_number="254712345678")
    failed = Payment.objects.create(member=member, payment_type="renewal", amount=1000, status="failed")
    their_object(Payment, theirs.pk, member=bob, status="completed", receipt_number="RCT-2026-000002")
    before = row_of(theirs)
    token = login(client)
    for reference in (theirs.reference, pending.reference, failed.reference, "PAY-GUESSED-0001", "1", "../1"):
        response = send(client, "get", f"/api/payments/{reference}/receipt/", token=token)
        assert response.status_code == 404, reference
        assert response.json()["error"]["status"] == 404
        assert_nothing_of(bob, response, "RCT-2026-000002", theirs.reference)
    for reference in (theirs.reference, "PAY-GUESSED-0001", theirs.receipt_number):
        response = send(client, "get", f"/api/payments/{reference}/status/", token=token)
        assert response.status_code == 404, reference
        assert_nothing_of(bob, response, "RCT-2026-000002", theirs.reference, "completed")
    assert row_of(theirs) == before
    # Even when the client asks for a PDF, the error comes in the JSON shape.
    response = send(
        client, "get", f"/api/payments/{theirs.reference}/receipt/", token=token, HTTP_ACCEPT="application/pdf"
    )
    assert response.status_code == 404 and response.json()["error"]["status"] == 404
    # Without a token: 401, whatever the reference.
    assert client.get(f"/api/payments/{theirs.reference}/receipt/").status_code == 401


def test_the_certificate_of_an_active_member_is_a_pdf_attachment(client, member):
    token = login(client)
    response = send(client, "get", "/api/members/certificate/", token=token)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="certificate-KTS-2026-0001.pdf"'
    assert "KTS-2026-0001" in pdf_text(response.content)


def test_no_certificate_before_activation_is_a_409_that_says_why(client, alice):
    token = login(client, "alice@example.com")
    response = send(client, "get", "/api/members/certificate/", token=token)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "certificate_unavailable" and "pending" in error["message"]


@pytest.mark.security_check(1)
def test_an_account_without_membership_has_no_certificate_or_receipts(client, member):
    payment = completed_payment(member)
    their_object(Payment, payment.pk, member__user__email="member@example.com", receipt_number="RCT-2026-000001")
    UserFactory(email="nomember@example.com")
    token = login(client, "nomember@example.com")
    for path in ("/api/members/certificate/", f"/api/payments/{payment.reference}/receipt/", "/api/payments/history/"):
        response = send(client, "get", path, token=token)
        assert response.status_code == 404, path
        assert_nothing_of(member, response, "RCT-2026-000001", payment.reference)
    # The member's own token gets both: the 404s were about whose they are.
    own = login(client)
    assert send(client, "get", f"/api/payments/{payment.reference}/receipt/", token=own).status_code == 200


# --- Lists: only the caller's rows, in a fixed number of queries ------------------------------------------------


@pytest.mark.security_check(1)
def test_history_lists_only_the_callers_payments_in_a_fixed_number_of_queries(
    client, member, bob, django_assert_num_queries
):
    token = login(client)
    completed_payment(bob, receipt="RCT-2026-000009")

    def history():
        response = send(client, "get", "/api/payments/history/?page_size=100", token=token)
        assert response.status_code == 200
        return response.json()

    completed_payment(member)
    # The token's user, the caller's member row, the count and the page.
    with django_assert_num_queries(4):
        body = history()
    assert [row["receipt_number"] for row in body["results"]] == ["RCT-2026-000001"]

    for index in range(30):
        Payment.objects.create(
            member=member, payment_type="renewal", amount=1000, status="failed", result_code=str(index)
        )
    with django_assert_num_queries(4):
        body = history()
    assert body["count"] == 31
    assert "RCT-2026-000009" not in json.dumps(body)


# --- STK prompt limits (QUALITY check 10) -------------------------------------------------------------------


def initiate(client, token, phone="254712345678", amount=1000, payment_type="renewal"):
    body = {"amount": amount, "phone_number": phone, "payment_type": payment_type}
    return send(client, "post", "/api/payments/mpesa/initiate/", body, token)


def age(payments, seconds):
    """Move prompts into the past instead of waiting."""
    Payment.objects.filter(pk__in=[p.pk for p in payments]).update(
        created_at=timezone.now() - datetime.timedelta(seconds=seconds)
    )


@pytest.mark.security_check(10)
def test_a_second_prompt_within_the_cooldown_is_a_429_with_retry_after(client, member, daraja, settings):
    settings.MPESA_PROMPT_COOLDOWN_SECONDS = 90
    token = login(client)
    assert initiate(client, token).status_code == 201
    response = initiate(client, token, phone="0722000111")  # another phone does not help
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["status"] == 429 and "already sent" in error["message"]
    assert 0 < int(response["Retry-After"]) <= 90
    assert 0 < error["retry_after_seconds"] <= 90
    assert Payment.objects.count() == 1

    age(Payment.objects.all(), 91)  # the cooldown has passed
    assert initiate(client, token).status_code == 201


@pytest.mark.security_check(10)
def test_nobody_can_prompt_a_phone_another_account_just_prompted(client, member, bob, daraja):
    first = login(client)
    assert initiate(client, first, phone="0712345678").status_code == 201
    second = login(client, "bob@example.com")
    response = initiate(
        client, second, phone="+254 712 345 678", amount=bob.category.registration_fee, payment_type="registration"
    )
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "0712" not in response.json()["error"]["message"]  # masked
    assert Payment.objects.filter(member=bob).count() == 0
    # Bob's own phone is fine.
    response = initiate(
        client, second, phone="0722000111", amount=bob.category.registration_fee, payment_type="registration"
    )
    assert response.status_code == 201


@pytest.mark.security_check(10)
def test_prompts_to_one_phone_are_counted_across_members_in_the_window(member, bob, daraja, settings):
    settings.MPESA_PROMPTS_PER_PHONE = 2
    settings.MPESA_PROMPT_WINDOW_SECONDS = 900
    phone = outcomes.PHONE_MANUAL
    # Two prompts to the phone, from two accounts, that its owner cancelled (past the cooldown, in the window).
    earlier = [
        Payment.objects.create(
            member=who,
            payment_type="registration",
            method=Payment.Method.MPESA,
            amount=5000,
            phone_number=phone,
            status=Payment.Status.CANCELLED,
            result_code="1032",
            result_source=Payment.Source.CALLBACK,
        )
        for who in (member, bob)
    ]
    age(earlier, 100)
    with pytest.raises(PaymentThrottled, match="2 M-Pesa payment prompts") as refused:
        payment_initiate_mpesa(member=member, payment_type="renewal", phone=phone, actor=member.user)
    assert 700 < refused.value.retry_after <= 800
    assert Payment.objects.count() == 2

    age(earlier, 901)  # the window has passed
    payment = payment_initiate_mpesa(member=member, payment_type="renewal", phone=phone, actor=member.user)
    assert payment.status == Payment.Status.PENDING


@pytest.mark.security_check(10)
def test_prompts_by_one_member_are_counted_whatever_the_phone(member, daraja, settings):
    settings.MPESA_PROMPTS_PER_MEMBER = 2
    for phone in ("0722000111", "0722000112"):
        age([payment_initiate_mpesa(member=member, payment_type="renewal", phone=phone, actor=member.user)], 100)
    with pytest.raises(PaymentThrottled, match="You have started 2"):
        payment_initiate_mpesa(member=member, payment_type="renewal", phone="0722000113", actor=member.user)
    settings.MPESA_PROMPTS_PER_MEMBER = 0  # 0 turns the limit off
    payment_initiate_mpesa(member=member, payment_type="renewal", phone="0722000113", actor=member.user)


@pytest.mark.security_check(10)
def test_pushes_mpesa_refused_do_not_count(member, daraja, settings):
    settings.MPESA_PROMPTS_PER_PHONE = 1
    Payment.objects.create(
        member=member,
        payment_type="renewal",
        amount=1000,
        phone_number="254712345678",
        status=Payment.Status.FAILED,
        result_source=Payment.Source.PUSH,
    )
    assert (
        payment_initiate_mpesa(member=member, payment_type="renewal", phone="0712345678", actor=member.user).status
        == Payment.Status.PENDING
    )


@pytest.mark.security_check(10)
def test_the_web_pay_page_shows_the_limit(client, member, bob, daraja):
    payment_initiate_mpesa(member=bob, payment_type="registration", phone="0712345678", actor=bob.user)
    client.login(username="member@example.com", password=PASSWORD)
    response = client.post("/payments/pay/", {"phone_number": "0712345678", "payment_type": "renewal"})
    assert response.status_code == 400
    assert "was just sent to" in response.content.decode()
    assert not Payment.objects.filter(member=member).exists()


@pytest.mark.security_check(10)
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_accounts_prompting_one_phone_at_the_same_instant_send_one_prompt(daraja):
    from django.db import connection

    from tests.concurrency import run_together
    from tests.factories import load_reference_data

    if connection.vendor != "postgresql":
        pytest.skip("Needs PostgreSQL locks: set DATABASE_URL=postgres://... (SQLite serialises writers).")
    load_reference_data()
    members = [MemberFactory(documents=[]) for _ in range(4)]
    refused = []

    def prompt(who):
        try:
            payment_initiate_mpesa(member=who, payment_type="registration", phone=outcomes.PHONE_MANUAL, actor=who.user)
        except PaymentThrottled as error:
            refused.append(error)

    assert run_together([lambda who=who: prompt(who) for who in members]) == []
    assert Payment.objects.filter(phone_number=outcomes.PHONE_MANUAL).count() == 1
    assert len(refused) == 3
