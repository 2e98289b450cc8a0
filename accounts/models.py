from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from core.emails import normalise_email


class UserManager(BaseUserManager):
    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email):
        # One spelling for the whole address (core.emails), where Django's lower-cases only the domain.
        return normalise_email(email)

    def get_by_natural_key(self, username):
        # Jane@Example.com, ｊａｎｅ@example.com and jane@example.com are one account. Stored addresses are in
        # this form already; iexact still finds a row saved some other way.
        return self.get(email__iexact=normalise_email(username))

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who can log in: a member, or staff in one of the roles (see accounts.roles)."""

    email = models.EmailField("email address", unique=True)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    is_staff = models.BooleanField(default=False, help_text="Can log in to the staff pages and the admin site.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["first_name", "last_name"]

    class Meta:
        ordering = ["email"]
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]

    def __str__(self):
        return self.email

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email)

    def get_full_name(self):
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self):
        return self.first_name


class Consent(models.Model):
    """One agreement by one person to one purpose, under the privacy notice version then in force.

    Rows are never deleted: a withdrawal sets `withdrawn_at`, a re-acceptance of a newer notice adds a row,
    so the history shows exactly what the person had agreed to at any moment (proof the Act asks for).
    """

    class Purpose(models.TextChoices):
        # Required: without it there is no membership (the notice explains the lawful bases).
        PRIVACY_NOTICE = "privacy_notice", "I have read the privacy notice"
        # Optional and consent-based (DPA 2019 s.37, commercial use): nothing about running the membership
        # (reminders, receipts) depends on it; those follow the email/SMS switches on the profile.
        NEWS_AND_EVENTS = "news_and_events", "News, events and surveys from the association"

    class Channel(models.TextChoices):
        WEB = "web", "Web form"
        API = "api", "Mobile or partner app (API)"
        STAFF = "staff", "Recorded by staff (paper form)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(max_length=30, choices=Purpose.choices)
    version = models.CharField("privacy notice version", max_length=20)
    given_at = models.DateTimeField(default=timezone.now)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Made by privacy's first migration; moved here without touching the table (accounts 0003).
        db_table = "privacy_consent"
        ordering = ["-given_at", "-pk"]
        indexes = [models.Index(fields=["user", "purpose", "-given_at"], name="privacy_consent_user_idx")]
        constraints = [
            # A double-clicked "I agree" records one consent, not two.
            models.UniqueConstraint(
                fields=["user", "purpose", "version"],
                condition=models.Q(withdrawn_at__isnull=True),
                name="privacy_consent_one_open_per_version",
            )
        ]

    def __str__(self):
        return f"{self.get_purpose_display()} v{self.version} by user {self.user_id}"

    @property
    def is_optional(self) -> bool:
        return self.purpose != self.Purpose.PRIVACY_NOTICE
