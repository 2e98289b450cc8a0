import time

from django.conf import settings
from django.core.management import BaseCommand, CommandError

from mpesa.client import StkPushRequest, mask_phone
from mpesa.config import get_client
from mpesa.errors import DarajaError
from mpesa.result_codes import PAID, lookup


class Command(BaseCommand):
    help = "Send a test STK push (default: the sandbox test number 254708374149) and report the outcome."

    def add_arguments(self, parser):
        parser.add_argument("--phone", default="254708374149")
        parser.add_argument("--amount", type=int, default=1)
        parser.add_argument("--wait", type=int, default=120, help="Seconds to wait for a final answer.")
        parser.add_argument("--interval", type=float, default=5.0, help="Seconds between status queries.")

    def handle(self, *args, phone, amount, wait, interval, **options):
        client = get_client()
        request = StkPushRequest(
            phone=phone,
            amount=amount,
            account_reference="TEST",
            description="Test payment",
            callback_url=settings.MPESA_CALLBACK_URL.rstrip("/") + "/test/",
        )
        try:
            response = client.stk_push(request)
        except (DarajaError, ValueError) as error:
            raise CommandError(f"STK push refused: {error}") from None
        self.stdout.write(f"push accepted for {mask_phone(phone)}: {response.checkout_request_id}")
        deadline = time.monotonic() + wait
        while True:
            result = client.stk_query(response.checkout_request_id)
            if not result.pending:
                code = lookup(result.result_code)
                style = self.style.SUCCESS if code.code == PAID else self.style.WARNING
                self.stdout.write(style(f"outcome: {result.result_code} {result.result_description} ({code.meaning})"))
                return
            if time.monotonic() >= deadline:
                self.stdout.write(self.style.WARNING(f"still pending after {wait} s"))
                return
            time.sleep(interval)
