"""The brief's M-Pesa management commands, run against the local Daraja simulator."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from daraja_simulator import outcomes
from payments.models import MpesaCallback, Payment
from payments.services import payment_initiate_mpesa

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args, **options):
    out = StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def test_verify_mpesa_config_obtains_a_token(daraja):
    output = run("verify_mpesa_config")
    assert "OK: Daraja issued an access token." in output
    assert daraja.base_url in output
    assert "simulator-consumer-secret" not in output


def test_verify_mpesa_config_reports_wrong_credentials(daraja, settings):
    settings.MPESA_CONSUMER_KEY = "wrong"
    settings.MPESA_CONSUMER_SECRET = "wrong"
    with pytest.raises(CommandError, match="refused the credentials"):
        run("verify_mpesa_config")


@pytest.mark.parametrize("command", ["test_mpesa_stk", "test_mpesa"])
def test_the_stk_test_commands_report_the_sandbox_numbers_timeout(daraja, command):
    # 254708374149 behaves as in the real sandbox: nobody answers, the outcome is 1037.
    output = run(command, "--wait", "5", "--interval", "0.2")
    assert "push accepted for 2547****4149" in output
    assert "outcome: 1037" in output


def test_the_stk_test_command_reports_a_success(daraja):
    output = run("test_mpesa_stk", "--phone", outcomes.PHONE_SUCCESS, "--wait", "5", "--interval", "0.2")
    assert "outcome: 0 " in output


def test_the_callback_test_command_shows_an_unknown_callback_is_rejected(daraja_live):
    output = run("test_mpesa_callback")
    assert "HTTP 200" in output
    assert "rejected (unknown CheckoutRequestID)" in output
    assert MpesaCallback.objects.get().outcome == MpesaCallback.Outcome.REJECTED


def test_the_callback_test_command_completes_a_pending_payment_only_when_daraja_confirms_it(daraja_live, alice):
    payment = payment_initiate_mpesa(
        member=alice, payment_type="registration", phone=outcomes.PHONE_MANUAL, actor=alice.user
    )
    output = run("test_mpesa_callback", "--payment", payment.reference)
    assert "confirming" in output  # the prompt is still open: Daraja's status query does not confirm it
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING

    daraja_live.resolve(payment.checkout_request_id, 0, deliver=False)
    output = run("test_mpesa_callback", "--payment", payment.reference)
    assert "applied (completed)" in output
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED


def test_reconcile_payments_prints_a_summary(daraja):
    assert "checked 0" in run("reconcile_payments")
