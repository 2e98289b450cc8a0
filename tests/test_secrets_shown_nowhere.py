"""Check 18: secrets (callback tokens, API tokens, TOTP keys, recovery codes) are shown nowhere: not in the
admin (list, change page, search), the staff payment page or the API. An Admin who could read a payment's
callback token could post a "successful" callback for it; one who could read a TOTP key could pass another
person's second step."""

import base64
import json

import pytest
from django.contrib import admin
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from payments.models import MpesaCallback, Payment
from payments.services import callback_process, callback_receive
from payments.tests.test_concurrency import success_body

pytestmark = [pytest.mark.django_db, pytest.mark.security_check(18)]


def admin_url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def alices_payment(approved_alice, daraja_confirms, django_capture_on_commit_callbacks):
    """Alice's M-Pesa payment, completed by a callback that came with the payment's URL token (and that
    Daraja's status query confirmed)."""
    payment = Payment.objects.create(
        member=approved_alice,
        payment_type=Payment.Type.REGISTRATION,
        amount=approved_alice.category.registration_fee,
        phone_number="254708374149",
        checkout_request_id="ws_CO_secret",
        merchant_request_id="m-secret",
    )
    callback = callback_receive(
        token=payment.callback_token, body=success_body(payment, "TSE1234567"), headers={}, source_ip="127.0.0.1"
    )
    with django_capture_on_commit_callbacks(execute=True):
        callback_process(callback)
    assert MpesaCallback.objects.get(pk=callback.pk).outcome == MpesaCallback.Outcome.APPLIED
    assert MpesaCallback.objects.get(pk=callback.pk).url_token == payment.callback_token
    return Payment.objects.get(pk=payment.pk)


def pages(client, model, obj, **search):
    """The admin's list, its search for `search` and the object's change page, each loaded."""
    answers = [
        client.get(admin_url(model, "changelist")),
        client.get(admin_url(model, "changelist"), search),
        client.get(admin_url(model, "change", obj.pk)),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.request
    return [answer.content.decode() for answer in answers]


def test_the_admin_never_shows_a_payments_callback_token(client, login_as, alices_payment):
    login_as("admin")
    token = alices_payment.callback_token
    for model, obj in [(Payment, alices_payment), (MpesaCallback, MpesaCallback.objects.get())]:
        for page in pages(client, model, obj, q=alices_payment.checkout_request_id):
            assert "TSE1234567" in page or "ws_CO_secret" in page  # the page is about this payment
            assert token not in page, model


def test_the_staff_payment_page_never_shows_the_callback_token(client, login_as, alices_payment):
    login_as("finance")
    page = client.get(reverse("dashboard:payment_detail", args=[alices_payment.reference]))
    assert page.status_code == 200
    content = page.content.decode()
    assert "TSE1234567" in content  # the callback is on the page
    assert alices_payment.callback_token not in content


def test_the_api_never_shows_the_callback_token(client, alices_payment):
    token = str(RefreshToken.for_user(alices_payment.member.user).access_token)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    for path in ["/api/payments/history/", f"/api/payments/{alices_payment.reference}/status/"]:
        answer = client.get(path, **headers)
        assert answer.status_code == 200, path
        assert alices_payment.reference in json.dumps(answer.json())
        assert alices_payment.callback_token not in answer.content.decode(), path


def test_the_admin_never_shows_an_authenticator_key_or_its_qr_code(client, login_as, staff_user):
    login_as("admin")
    device = TOTPDevice.objects.get(user=staff_user)
    forms_of_the_key = [device.key, base64.b32encode(device.bin_key).decode().rstrip("=")]
    for page in pages(client, TOTPDevice, device, q=staff_user.email):
        assert staff_user.email in page
        for key in forms_of_the_key:
            assert key not in page
    assert client.get(admin_url(TOTPDevice, "changelist") + f"{device.pk}/config/").status_code != 200
    assert client.get(admin_url(TOTPDevice, "changelist") + f"{device.pk}/qrcode/").status_code != 200
    assert client.get(admin_url(TOTPDevice, "add")).status_code == 403  # an Admin never chooses someone's key


def test_the_admin_never_shows_recovery_codes(client, login_as, staff_user):
    login_as("admin")
    device = StaticDevice.objects.get(user=staff_user)
    codes = list(StaticToken.objects.filter(device=device).values_list("token", flat=True))
    assert codes
    for page in pages(client, StaticDevice, device, q=staff_user.email):
        assert staff_user.email in page
        assert not [code for code in codes if code in page]


def test_the_admin_never_shows_a_refresh_token(client, login_as, staff_user):
    login_as("admin")
    refresh = RefreshToken.for_user(staff_user)
    outstanding = OutstandingToken.objects.get(jti=refresh["jti"])
    for page in pages(client, OutstandingToken, outstanding, q=refresh["jti"]):
        assert refresh["jti"] in page
        assert str(refresh) not in page
        assert str(refresh).split(".")[2] not in page  # not even the signature


def test_every_admin_page_of_every_model_leaves_the_secrets_out(client, login_as, alices_payment, staff_user):
    """A sweep, so a model registered later with a secret field is caught too."""
    admin_user = login_as("admin")
    refresh = RefreshToken.for_user(staff_user)
    device = TOTPDevice.objects.get(user=staff_user)
    secrets = [alices_payment.callback_token, device.key, str(refresh).split(".")[2]]
    secrets += list(StaticToken.objects.filter(device__user=staff_user).values_list("token", flat=True))
    for model in admin.site._registry:
        for obj in model._default_manager.order_by("pk")[:5]:
            for url in [admin_url(model, "changelist"), admin_url(model, "change", obj.pk)]:
                content = client.get(url).content.decode()
                leaked = [secret for secret in secrets if secret in content]
                assert not leaked, (url, admin_user)
