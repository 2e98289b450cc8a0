import requests
from django.conf import settings
from django.core.management import BaseCommand, CommandError

from payments.models import MpesaCallback, Payment


class Command(BaseCommand):
    help = (
        "Post a sample Daraja callback to our own callback endpoint and report how it was handled. "
        "Without --payment the sample matches no payment and must be rejected; with --payment REF it is "
        "a success callback for that pending payment (simulator and sandbox only), which completes it only "
        "when Daraja's status query confirms it (MPESA_CONFIRM_CALLBACKS)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--payment", help="Reference of a pending payment to complete.")
        parser.add_argument("--url", help="Callback base URL (default: MPESA_CALLBACK_URL).")

    def handle(self, *args, payment=None, url=None, **options):
        base = (url or settings.MPESA_CALLBACK_URL).rstrip("/")
        if payment:
            if settings.MPESA_ENVIRONMENT == "production":
                raise CommandError("Refusing to fake a payment result in production.")
            try:
                target = Payment.objects.get(reference=payment)
            except Payment.DoesNotExist:
                raise CommandError(f"No payment with reference {payment}.") from None
            body = _callback(target.checkout_request_id or "ws_CO_TEST", target.amount, target.phone_number)
            token = target.callback_token
        else:
            body = _callback("ws_CO_TEST_SAMPLE_UNKNOWN", 1, "254708374149")
            token = "sample"  # noqa: S105 - a URL segment no payment has, not a secret
        last = MpesaCallback.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        try:
            response = requests.post(f"{base}/{token}/", json=body, timeout=(5, 30))
        except requests.RequestException as error:
            raise CommandError(f"Could not reach {base}: {error}") from None
        self.stdout.write(f"HTTP {response.status_code}: {response.text[:200]}")
        stored = MpesaCallback.objects.filter(pk__gt=last).order_by("pk").last()
        if stored is None:
            self.stdout.write(self.style.WARNING("No callback was stored here (is the URL served by this database?)."))
            return
        self.stdout.write(f"stored as callback {stored.pk}: {stored.outcome} ({stored.detail})")


def _callback(checkout_request_id: str, amount: int, phone: str) -> dict:
    receipt = "TST" + checkout_request_id[-7:].upper().rjust(7, "0")
    items = [
        {"Name": "Amount", "Value": amount},
        {"Name": "MpesaReceiptNumber", "Value": receipt},
        {"Name": "Balance"},
        {"Name": "TransactionDate", "Value": 20261126120000},
        {"Name": "PhoneNumber", "Value": int(phone)},
    ]
    callback = {
        "MerchantRequestID": "29115-34620561-1",
        "CheckoutRequestID": checkout_request_id,
        "ResultCode": 0,
        "ResultDesc": "The service request is processed successfully.",
        "CallbackMetadata": {"Item": items},
    }
    return {"Body": {"stkCallback": callback}}
