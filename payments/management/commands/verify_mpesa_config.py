from django.conf import settings
from django.core.management import BaseCommand, CommandError

from mpesa.client import mask_phone
from mpesa.config import base_url, get_client
from mpesa.errors import DarajaError


class Command(BaseCommand):
    help = "Check the M-Pesa settings and obtain a Daraja access token."

    def handle(self, *args, **options):
        try:
            client = get_client()
        except Exception as error:
            raise CommandError(f"M-Pesa is not configured: {error}") from None
        self.stdout.write(f"environment:  {settings.MPESA_ENVIRONMENT}")
        self.stdout.write(f"base URL:     {base_url()}")
        self.stdout.write(f"shortcode:    {client.shortcode}")
        self.stdout.write(f"consumer key: {mask_phone(client.consumer_key)}")
        self.stdout.write(f"callback URL: {settings.MPESA_CALLBACK_URL}")
        try:
            client.get_token()
        except DarajaError as error:
            raise CommandError(f"Daraja refused the credentials or could not be reached: {error}") from None
        self.stdout.write(self.style.SUCCESS("OK: Daraja issued an access token."))
