"""Reference data and demo accounts for trying the system locally (the README's run command calls this).

Idempotent: fixtures load only into empty tables, and existing accounts are left alone. Demo accounts
share one random password, generated on the first run and kept in var/demo-password.txt.
"""

import datetime
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import BaseCommand, CommandError

from accounts.roles import ADMIN, FINANCE, STAFF
from core.phones import normalise_phone
from demo.reference import reference_data_load
from members.models import Member, MembershipCategory, Region
from members.sample_files import sample_jpeg, sample_pdf, sample_png
from members.services import (
    DocumentUpload,
    document_verify,
    member_approve,
    member_register,
)
from payments.models import Payment
from payments.services import payment_record_offline

APPLICANTS = [
    # email, first, last, id, phone, category, county code, what happens
    ("wanjiku.kamau@example.com", "Wanjiku", "Kamau", "28765432", "0712345678", "full", "047", "pending"),
    ("otieno.ouma@example.com", "Brian", "Otieno", "31234567", "0798765432", "associate", "042", "pending"),
    ("achieng.njeri@example.com", "Mercy", "Achieng", "29876543", "0110123456", "student", "022", "active"),
    ("member@example.com", "Demo", "Member", "30123456", "0722000111", "associate", "001", "active"),
]


def password_file():
    return settings.BASE_DIR / "var" / "demo-password.txt"


class Command(BaseCommand):
    help = "Load reference data if missing and create demo staff accounts and members."

    def add_arguments(self, parser):
        parser.add_argument("--no-demo", action="store_true", help="Load reference data only.")

    def handle(self, *args, no_demo=False, **options):
        for path in reference_data_load():
            self.stdout.write(f"loaded {path}")
        if no_demo:
            return
        if not settings.DEBUG:
            raise CommandError("Demo accounts are for local development only (DEBUG is off).")
        password = self._password()
        admin = self._staff("admin@example.com", "Ada", "Admin", ADMIN, password, superuser=True)
        self._staff("staff@example.com", "Sam", "Staff", STAFF, password)
        self._staff("finance@example.com", "Faith", "Finance", FINANCE, password)
        for row in APPLICANTS:
            self._applicant(*row, password=password, admin=admin)
        self.stdout.write(
            self.style.SUCCESS(
                f"\nDemo logins (password for all: {password})\n"
                "  admin:   admin@example.com   (everything, and /admin/)\n"
                "  staff:   staff@example.com   (review documents, approve)\n"
                "  finance: finance@example.com (record payments)\n"
                "  member:  member@example.com  (an active member)\n"
                "Staff accounts set up two-factor at their first login: scan the QR code with any TOTP app\n"
                "(Google Authenticator, Aegis, 1Password...) or type its key.\n"
            )
        )

    def _password(self):
        path = password_file()
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        password = "demo-" + secrets.token_urlsafe(9)
        path.write_text(password + "\n")
        path.chmod(0o600)
        return password

    def _staff(self, email, first, last, role, password, superuser=False):
        User = get_user_model()
        user = User.objects.filter(email=email).first()
        if user is None:
            create = User.objects.create_superuser if superuser else User.objects.create_user
            user = create(email=email, password=password, first_name=first, last_name=last, is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        return user

    def _applicant(self, email, first, last, id_number, phone, category, county, outcome, *, password, admin):
        if get_user_model().objects.filter(email=email).exists():
            return
        category = MembershipCategory.objects.get(code=category)
        files = {
            "national_id": SimpleUploadedFile("id-front.pdf", sample_pdf(), "application/pdf"),
            "passport_photo": SimpleUploadedFile("photo.jpg", sample_jpeg(), "image/jpeg"),
            "certificate": SimpleUploadedFile("certificate.png", sample_png(), "image/png"),
        }
        member = member_register(
            email=email,
            password=password,
            first_name=first,
            last_name=last,
            category=category,
            documents=[DocumentUpload(code, files[code]) for code in category.required_documents],
            id_number=id_number,
            date_of_birth=datetime.date(1992, 5, 17),
            gender=Member.Gender.UNDISCLOSED,
            phone_number=normalise_phone(phone),
            country_id="KE",
            region=Region.objects.get(country="KE", code=county),
            physical_address="Moi Avenue, Nairobi",
            postal_address="P.O. Box 1234-00100, Nairobi",
            occupation="Engineer",
        )
        if outcome == "active":
            for document in member.documents.all():
                document_verify(document=document, actor=admin)
            member = member_approve(member=member, actor=admin)
            # Paid at the office: a Payment with a receipt, like any cash payment Finance records.
            payment_record_offline(
                member=member, method=Payment.Method.CASH, external_reference="DEMO-CASH-" + id_number, actor=admin
            )
