from django.conf import settings
from django.core.management import BaseCommand, CommandError

from mpesa.client import C2B_RESPONSE_TYPES, C2B_VERSIONS
from mpesa.errors import DarajaError
from payments.c2b import C2BRegistrationRefused, c2b_mask_url, c2b_register_urls, c2b_urls


class Command(BaseCommand):
    help = (
        "Register the Paybill/Till (C2B) confirmation and validation URLs for MPESA_C2B_SHORTCODE with Daraja "
        "and print its answer. In production Daraja registers once: to change them, delete the old URLs in the "
        "M-Pesa org portal (URL Management) first."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--base-url", default=None, help="Public address of this site (default MPESA_C2B_URL_BASE, else SITE_URL)."
        )
        parser.add_argument(
            "--api-version", choices=C2B_VERSIONS, default=None, help="C2B API version (default MPESA_C2B_API_VERSION)."
        )
        parser.add_argument(
            "--response-type",
            choices=C2B_RESPONSE_TYPES,
            default=None,
            help="What Daraja does when validation does not answer (default MPESA_C2B_RESPONSE_TYPE).",
        )

    def handle(self, *args, **options):
        base_url = options["base_url"] or settings.MPESA_C2B_URL_BASE
        version = options["api_version"] or settings.MPESA_C2B_API_VERSION
        response_type = options["response_type"] or settings.MPESA_C2B_RESPONSE_TYPE
        try:
            registration = c2b_register_urls(base_url=base_url, version=version, response_type=response_type)
        except C2BRegistrationRefused as error:
            raise CommandError(str(error)) from None
        except DarajaError as error:
            code = f" ({error.code})" if getattr(error, "code", None) else ""
            raise CommandError(f"Daraja did not register the C2B URLs{code}: {error}") from None
        except ValueError as error:
            raise CommandError(f"The C2B URLs cannot be registered: {error}") from None
        confirmation, validation = c2b_urls(base_url=base_url)
        self.stdout.write(f"shortcode:        {settings.MPESA_C2B_SHORTCODE}")
        self.stdout.write(f"API version:      {version}")
        self.stdout.write(f"response type:    {response_type}")
        self.stdout.write(f"confirmation URL: {c2b_mask_url(confirmation)}")
        self.stdout.write(f"validation URL:   {c2b_mask_url(validation)}")
        self.stdout.write(
            f"Daraja answered:  ResponseCode {registration.response_code} {registration.response_description!r} "
            f"(OriginatorConversationID {registration.originator_conversation_id})"
        )
        self.stdout.write(self.style.SUCCESS("OK: the C2B URLs are registered."))
