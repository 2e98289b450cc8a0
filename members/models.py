import hashlib
import secrets
import uuid
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from . import storage


class Country(models.Model):
    code = models.CharField("ISO 3166 alpha-2 code", max_length=2, primary_key=True)
    name = models.CharField(max_length=100, unique=True)
    iso3 = models.CharField("ISO 3166 alpha-3 code", max_length=3, unique=True)
    dial_code = models.CharField(max_length=8, blank=True, help_text="Without '+', e.g. 254.")

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "countries"

    def __str__(self):
        return self.name


class Region(models.Model):
    """A first-level subdivision: one of Kenya's 47 counties, or another country's region."""

    country = models.ForeignKey(Country, on_delete=models.PROTECT, related_name="regions")
    code = models.CharField(max_length=10, help_text="Official code, e.g. 047 for Nairobi County.")
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["country", "name"]
        constraints = [models.UniqueConstraint(fields=["country", "code"], name="members_region_unique_code")]

    def __str__(self):
        return self.name


class Fee(models.TextChoices):
    """What a payment pays for; the category's fees (registration_fee, renewal_fee, late_fee) say how much."""

    REGISTRATION = "registration", "Registration fee"
    RENEWAL = "renewal", "Renewal fee"
    LATE_PAYMENT = "late_payment", "Late payment"


class DocumentType(models.TextChoices):
    NATIONAL_ID = "national_id", "National ID or passport copy"
    PASSPORT_PHOTO = "passport_photo", "Passport photo"
    CERTIFICATE = "certificate", "Academic or professional certificate"
    OTHER = "other", "Other supporting document"


class MembershipCategory(models.Model):
    """What a member pays and must provide. Money is whole Kenya shillings: M-Pesa takes no cents."""

    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    registration_fee = models.PositiveIntegerField(help_text="KES, paid once on joining.")
    renewal_fee = models.PositiveIntegerField(help_text="KES, per period.")
    late_fee = models.PositiveIntegerField(default=0, help_text="KES, added when renewing after the grace period.")
    period_months = models.PositiveSmallIntegerField(default=12, help_text="0 means the membership never expires.")
    grace_days = models.PositiveSmallIntegerField(default=30)
    required_documents = models.JSONField(
        default=list, blank=True, help_text='Document types an applicant must upload, e.g. ["national_id"].'
    )
    is_active = models.BooleanField(default=True, help_text="Only active categories are offered at registration.")
    display_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["display_order", "name"]
        verbose_name_plural = "membership categories"

    def __str__(self):
        return self.name

    def clean(self):
        known = set(DocumentType.values)
        if not isinstance(self.required_documents, list) or not set(self.required_documents) <= known:
            raise ValidationError({"required_documents": f"Use a list drawn from: {', '.join(sorted(known))}."})

    @property
    def required_document_labels(self):
        return [DocumentType(code).label for code in self.required_documents]


def new_verification_token():
    return secrets.token_urlsafe(24)


# A member's own account for Paybill payments (members.account_match): a letter, then seven characters
# from an alphabet without the look-alikes 0/O, 1/I/L, so it is read off a screen and typed on a phone
# without mistakes. 23 * 31**7 (6.3e11) codes: a new one collides with one of a million others about
# once in 600,000 registrations, and the unique constraint refuses it rather than sharing an account.
ACCOUNT_REFERENCE_LETTERS = "ABCDEFGHJKMNPQRSTUVWXYZ"
ACCOUNT_REFERENCE_ALPHABET = "23456789" + ACCOUNT_REFERENCE_LETTERS
ACCOUNT_REFERENCE_LENGTH = 8


def new_account_reference() -> str:
    rest = "".join(secrets.choice(ACCOUNT_REFERENCE_ALPHABET) for _ in range(ACCOUNT_REFERENCE_LENGTH - 1))
    return secrets.choice(ACCOUNT_REFERENCE_LETTERS) + rest


_ACCOUNT_REFERENCE_SPACE = len(ACCOUNT_REFERENCE_LETTERS) * len(ACCOUNT_REFERENCE_ALPHABET) ** (
    ACCOUNT_REFERENCE_LENGTH - 1
)
_ACCOUNT_REFERENCE_STEP = 1_000_000_007  # a prime, so coprime with 23 * 31**7: n -> code is one-to-one


def account_reference_for(n: int) -> str:
    """A reference for bulk-written rows (demo data), distinct for every distinct n < 6.3e11 without asking
    the database; new_account_reference() is the one members get."""
    value = (n * _ACCOUNT_REFERENCE_STEP) % _ACCOUNT_REFERENCE_SPACE
    value, first = divmod(value, len(ACCOUNT_REFERENCE_LETTERS))
    rest = []
    for _ in range(ACCOUNT_REFERENCE_LENGTH - 1):
        value, digit = divmod(value, len(ACCOUNT_REFERENCE_ALPHABET))
        rest.append(ACCOUNT_REFERENCE_ALPHABET[digit])
    return ACCOUNT_REFERENCE_LETTERS[first] + "".join(rest)


def phone_hash_of(phone_number: str) -> str:
    """SHA-256 hex of the normalised phone (254712345678), as C2B v1 confirmations carry the payer's MSISDN;
    empty for no phone (an erased member)."""
    return hashlib.sha256(phone_number.encode()).hexdigest() if phone_number else ""


# What privacy.erasure writes over an erased member's ID number: such a member is matched to no payment.
ERASED_ID_PREFIX = "ERASED-"


class Member(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending review"
        APPROVED = "approved", "Approved, awaiting registration fee"
        ACTIVE = "active", "Active"
        REJECTED = "rejected", "Rejected"
        SUSPENDED = "suspended", "Suspended"
        GRACE = "grace", "In grace period"
        EXPIRED = "expired", "Expired"

    class IdType(models.TextChoices):
        NATIONAL_ID = "national_id", "National ID"
        PASSPORT = "passport", "Passport"
        ALIEN_ID = "alien_id", "Alien ID"

    class Gender(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        OTHER = "other", "Other"
        UNDISCLOSED = "undisclosed", "Prefer not to say"

    # An application staff are still deciding (documents open, the registration fee awaited).
    UNDER_REVIEW: tuple[str, ...] = (Status.PENDING, Status.APPROVED)
    # A membership that has (had) a period: renewal extends it; life members have no end date.
    WITH_PERIOD: tuple[str, ...] = (Status.ACTIVE, Status.GRACE, Status.EXPIRED)

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="member")
    membership_number = models.CharField(max_length=32, unique=True, null=True, blank=True, editable=False)
    category = models.ForeignKey(MembershipCategory, on_delete=models.PROTECT, related_name="members")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    status_reason = models.TextField(blank=True, help_text="Why the last status change happened (shown to the member).")
    status_changed_at = models.DateTimeField(default=timezone.now)

    other_names = models.CharField(max_length=100, blank=True)
    id_type = models.CharField("ID type", max_length=20, choices=IdType.choices, default=IdType.NATIONAL_ID)
    id_number = models.CharField("ID or passport number", max_length=20)
    date_of_birth = models.DateField()
    gender = models.CharField(max_length=20, choices=Gender.choices)
    phone_number = models.CharField(max_length=15, db_index=True, help_text="Normalised, e.g. 254712345678.")
    postal_address = models.CharField(max_length=200, blank=True)
    physical_address = models.CharField(max_length=255, blank=True)
    country = models.ForeignKey(Country, on_delete=models.PROTECT, related_name="members")
    region = models.ForeignKey(Region, on_delete=models.PROTECT, null=True, blank=True, related_name="members")
    occupation = models.CharField(max_length=100, blank=True)
    organisation = models.CharField("employer or organisation", max_length=150, blank=True)

    applied_at = models.DateTimeField(default=timezone.now)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    # The seam to payments: set once when the registration fee is received (by M-Pesa or recorded offline).
    registration_paid_at = models.DateTimeField(null=True, blank=True)
    registration_payment_reference = models.CharField(max_length=64, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True, help_text="Last day of the current period, inclusive.")

    # What a member types as the account when paying the Paybill (shown on the portal and pay page);
    # applicants have it before they have a membership number.
    account_reference = models.CharField(max_length=12, unique=True, default=new_account_reference, editable=False)
    # SHA-256 of phone_number (phone_hash_of), kept by save() and member_search_text_update(): C2B v1
    # confirmations name the payer only by this hash.
    phone_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)

    # Printed on the certificate as a QR code: the public verification page is found by this alone.
    verification_token = models.CharField(max_length=43, unique=True, default=new_verification_token, editable=False)
    # How the member wants to hear from us (in-app notifications are always kept).
    notify_by_email = models.BooleanField("email me", default=True)
    notify_by_sms = models.BooleanField("text me (SMS)", default=True)

    # Lower-cased name, email, numbers and phone for staff search (members.search); trigram-indexed on
    # PostgreSQL by migration 0004, which is why the index is not declared in Meta (SQLite has no GIN).
    search_text = models.TextField(blank=True, editable=False)

    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-applied_at"]
        constraints = [
            models.UniqueConstraint(fields=["id_type", "id_number"], name="members_member_unique_id_number"),
        ]
        indexes = [
            models.Index(fields=["status", "-applied_at"]),
            models.Index(fields=["-applied_at"], name="members_member_applied_idx"),
            models.Index(fields=["status", "period_end"], name="members_member_status_end_idx"),
            models.Index(fields=["period_end"], name="members_member_period_end_idx"),
        ]
        permissions = [
            ("review_application", "Can approve or reject membership applications"),
            ("record_offline_payment", "Can record a payment received outside M-Pesa"),
            ("export_member", "Can export member lists (CSV, Excel)"),
        ]

    def __str__(self):
        return f"{self.full_name} ({self.membership_number or 'applicant'})"

    def save(self, *args, **kwargs):
        # The phone's hash follows the phone on every save; update() callers go through
        # members.search.member_search_text_update, which keeps it too.
        self.phone_hash = phone_hash_of(self.phone_number)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "phone_number" in update_fields and "phone_hash" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "phone_hash"]
        super().save(*args, **kwargs)

    @property
    def full_name(self):
        parts = [self.user.first_name, self.other_names, self.user.last_name]
        return " ".join(p for p in parts if p)

    @property
    def email(self):
        return self.user.email

    @property
    def registration_paid(self):
        return self.registration_paid_at is not None

    @property
    def is_under_review(self) -> bool:
        return self.status in self.UNDER_REVIEW

    @property
    def registration_fee_due(self) -> bool:
        return self.is_under_review and not self.registration_paid

    @property
    def can_renew(self) -> bool:
        """Has a period that a renewal extends, whether or not the renewal window is open yet."""
        return self.status in self.WITH_PERIOD and self.period_end is not None

    def current_documents(self):
        return self.documents.filter(is_current=True)


def document_upload_to(instance, filename):
    # The stored name is random: nothing the uploader typed reaches the filesystem.
    extension = PurePath(filename).suffix.lower()
    return f"documents/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{extension}"


def private_storage():
    # STORAGES["private"] (members.storage.PrivateDocumentStorage, or PrivateS3Storage with a bucket), through
    # a proxy that follows a changed STORAGES setting. A callable, so migrations name it and not a backend.
    return storage.private_storage


class Document(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting review"
        VERIFIED = "verified", "Verified"
        REJECTED = "rejected", "Rejected"

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="documents")
    doc_type = models.CharField("document type", max_length=20, choices=DocumentType.choices)
    file = models.FileField(upload_to=document_upload_to, storage=private_storage, max_length=200)
    original_name = models.CharField(max_length=150)
    content_type = models.CharField(max_length=50)
    size = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    rejection_reason = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    uploaded_at = models.DateTimeField(default=timezone.now)
    # A re-upload replaces the current document of that type; the old one stays for the record.
    is_current = models.BooleanField(default=True)

    class Meta:
        ordering = ["doc_type", "-uploaded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "doc_type"],
                condition=models.Q(is_current=True),
                name="members_document_one_current_per_type",
            )
        ]
        permissions = [("review_document", "Can verify or reject members' documents")]

    def __str__(self):
        return f"{self.get_doc_type_display()} of {self.member.full_name}"


class ReminderLog(models.Model):
    """One row per reminder sent: (member, period end, kind) is unique, so a reminder goes out once per
    member per period however often, or on however many workers, the daily job runs."""

    class Kind(models.TextChoices):
        DAYS_30 = "due_30", "30 days before the end date"
        DAYS_7 = "due_7", "7 days before the end date"
        DAYS_1 = "due_1", "1 day before the end date"
        END_DATE = "ended", "On the end date"
        GRACE_ENDED = "grace_ended", "When the grace period ends"

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="reminders")
    period_end = models.DateField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(fields=["member", "period_end", "kind"], name="members_reminder_once_per_period")
        ]

    def __str__(self):
        return f"{self.get_kind_display()} for {self.member_id} ({self.period_end})"
