import secrets

from django.conf import settings
from django.db import models

from members.models import Fee


def new_reference():
    # Appears in URLs and the API: unguessable, not sequential.
    return secrets.token_urlsafe(12)


def new_callback_token():
    return secrets.token_urlsafe(24)


class PaymentQuerySet(models.QuerySet):
    def unapplied(self):
        """Completed payments whose money is in but that paid nothing on the membership (see `unapplied_at`)."""
        return self.filter(unapplied_at__isnull=False)

    def awaiting_resolution(self):
        """Unapplied payments Finance has still to settle: no decision yet, or a refund decided and not made."""
        return self.unapplied().filter(resolution__in=Payment.OPEN_RESOLUTIONS)

    def settled(self):
        return self.unapplied().exclude(resolution__in=Payment.OPEN_RESOLUTIONS)


class Payment(models.Model):
    # What is due is a membership rule (members.dues); a payment pays one of those fees.
    Type = Fee

    class Method(models.TextChoices):
        MPESA = "mpesa", "M-Pesa"
        CASH = "cash", "Cash"
        CHEQUE = "cheque", "Cheque"
        BANK = "bank", "Bank transfer"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        TIMEOUT = "timeout", "Timed out"

    class Resolution(models.TextChoices):
        """What Finance did with the money of an unapplied payment (blank: nothing decided yet)."""

        REFUND_DUE = "refund_due", "Refund due"
        REFUNDED = "refunded", "Refunded"
        KEPT_AS_CREDIT = "kept_as_credit", "Kept as credit"
        APPLIED_MANUALLY = "applied_manually", "Applied manually"

    # An unapplied payment still waiting for Finance: nothing decided, or a refund decided but not made.
    OPEN_RESOLUTIONS = ("", Resolution.REFUND_DUE)

    class Source(models.TextChoices):
        """Who decided the payment's last status (blank while nobody has)."""

        PUSH = "push", "STK push answer"
        CALLBACK = "callback", "Daraja callback"
        QUERY = "query", "Status query"
        RECONCILIATION = "reconciliation", "Reconciliation (no answer in time)"
        OFFLINE = "offline", "Recorded by staff (cash, cheque, bank)"

    reference = models.CharField(max_length=32, unique=True, default=new_reference, editable=False)
    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="payments")
    payment_type = models.CharField(max_length=20, choices=Type.choices)
    method = models.CharField(max_length=10, choices=Method.choices, default=Method.MPESA)
    amount = models.PositiveIntegerField(help_text="Whole Kenya shillings.")
    phone_number = models.CharField(max_length=15, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)

    # Daraja's identifiers. CheckoutRequestID and the M-Pesa receipt are the idempotency keys.
    merchant_request_id = models.CharField(max_length=64, blank=True)
    checkout_request_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    mpesa_receipt_number = models.CharField(max_length=20, unique=True, null=True, blank=True)
    result_code = models.CharField(max_length=20, blank=True)
    result_description = models.CharField(max_length=255, blank=True)
    # Who decided the final status: the push, Daraja's callback, a status query, reconciliation, staff.
    result_source = models.CharField(max_length=20, choices=Source.choices, blank=True)
    # The secret part of this payment's callback URL: a callback without it is not believed.
    callback_token = models.CharField(max_length=64, unique=True, default=new_callback_token, editable=False)

    # Offline payments: the receipt, cheque or bank reference the member gave.
    external_reference = models.CharField(max_length=64, blank=True)
    receipt_number = models.CharField(max_length=20, unique=True, null=True, blank=True)

    initiated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Unapplied: the payment completed (the money is in, with a receipt) but the membership could not take
    # it: the fee was already paid another way, nothing is due any more, or the application was closed
    # meanwhile. The member has this money: Finance refunds it or keeps it as credit (`resolution`). A
    # member account (the Paybill issue) can later take every payment kept as credit as its opening credit.
    unapplied_at = models.DateTimeField(null=True, blank=True)
    # The text columns carry a database default too, so a row written without them (code of the previous
    # release during a deploy, a bulk load) is still valid.
    unapplied_reason = models.CharField(max_length=255, blank=True, default="", db_default="")
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True, default="", db_default="")
    resolution_reference = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",
        help_text="The refund's reference (M-Pesa, cheque or bank transaction).",
    )
    resolution_note = models.CharField(max_length=500, blank=True, default="", db_default="")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When Daraja accepted the STK push.")
    completed_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True, help_text="Last status query to Daraja.")
    check_count = models.PositiveSmallIntegerField(default=0)

    objects = PaymentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["member", "-created_at"]),
            models.Index(
                fields=["status", "created_at"], name="payments_pending_idx", condition=models.Q(status="pending")
            ),
            # Finance's "not applied" list and count: a handful of rows among millions.
            models.Index(
                fields=["created_at"], name="payments_unapplied_idx", condition=models.Q(unapplied_at__isnull=False)
            ),
            # The staff home's revenue and M-Pesa figures use covering indexes that migration 0004 creates on
            # PostgreSQL (INCLUDE is PostgreSQL's), so they are not declared here.
        ]
        permissions = [
            ("view_all_payments", "Can see every member's payments and receipts"),
            ("export_payment", "Can export payment lists (CSV, Excel)"),
            ("settle_unapplied_payment", "Can record how a payment that was not applied was settled"),
        ]

    def __str__(self):
        return f"{self.get_payment_type_display()} KES {self.amount:,} ({self.get_status_display()})"

    @property
    def is_final(self):
        return self.status != self.Status.PENDING

    @property
    def is_unapplied(self) -> bool:
        return self.unapplied_at is not None

    @property
    def awaits_resolution(self) -> bool:
        return self.is_unapplied and self.resolution in self.OPEN_RESOLUTIONS


class MpesaCallback(models.Model):
    """Every inbound Daraja callback, stored raw before it is processed, with the outcome on the row."""

    class Outcome(models.TextChoices):
        RECEIVED = "received", "Received, not processed yet"
        # A success callback waits for Daraja's status query to confirm it (check 24); reconciliation's
        # query completes the payment with its receipt if the first query had no answer.
        CONFIRMING = "confirming", "Waiting for Daraja to confirm"
        APPLIED = "applied", "Applied"
        DUPLICATE = "duplicate", "Duplicate (already applied)"
        REJECTED = "rejected", "Rejected (security)"
        IGNORED = "ignored", "Ignored"
        ERROR = "error", "Error while processing"

    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    url_token = models.CharField(max_length=64, blank=True)
    body = models.TextField()
    headers = models.JSONField(default=dict)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    checkout_request_id = models.CharField(max_length=64, blank=True, db_index=True)
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.SET_NULL, related_name="callbacks")
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RECEIVED, db_index=True)
    detail = models.CharField(max_length=255, blank=True)
    traceback = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Set when the delivery was kept in the spool during a database outage (core.spool) and replayed from
    # it: unique, so replaying one spooled file twice stores one row.
    spool_id = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self):
        return f"{self.received_at:%Y-%m-%d %H:%M:%S} {self.checkout_request_id or '?'} {self.outcome}"


class C2BConfirmation(models.Model):
    """Every Paybill/Till (C2B) delivery from Daraja, stored raw before it is parsed, with the outcome on the row.

    Confirmations say money has arrived; validations (only when Safaricom's External Validation is on for the
    shortcode) ask whether to take it. The TransID is the M-Pesa receipt: one confirmation per TransID owns it
    (the partial unique constraint: every later copy is stored as a duplicate), and a TransID already recorded
    as an STK payment's receipt is refused. The MSISDN is kept exactly as delivered: SHA-256 hashed (C2B v1)
    or masked (v2, `2547 ***** 126`); the payer's full number is never in it.
    """

    class Kind(models.TextChoices):
        CONFIRMATION = "confirmation", "Confirmation"
        VALIDATION = "validation", "Validation"

    class Status(models.TextChoices):
        # Stored; a valid confirmation waiting for matching to a member (a validation: accepted).
        RECEIVED = "received", "Received"
        # Refused for security: wrong shortcode, malformed or wrongly typed body, TransID already an STK receipt.
        REJECTED = "rejected", "Rejected (security)"
        DUPLICATE = "duplicate", "Duplicate TransID"
        # Matching found nobody (or nobody for sure): Finance decides (the suspense queue).
        UNMATCHED = "unmatched", "Unmatched (suspense)"

    # Statuses that do not own their TransID: any number of these rows may carry the same one.
    NOT_OWNING = (Status.REJECTED, Status.DUPLICATE)

    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.CONFIRMATION)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    detail = models.CharField(max_length=255, blank=True)

    # Exactly as delivered.
    body = models.TextField()
    headers = models.JSONField(default=dict)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Set when the delivery was kept in the spool during a database outage (core.spool) and replayed from it.
    spool_id = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)

    # Parsed from the body (NULL/blank until parsed, or when the body is malformed).
    trans_id = models.CharField(max_length=20, null=True, blank=True)
    trans_type = models.CharField(max_length=20, blank=True)
    trans_time = models.DateTimeField(null=True, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    business_short_code = models.CharField(max_length=12, blank=True)
    bill_ref_number = models.CharField(max_length=40, blank=True)
    invoice_number = models.CharField(max_length=40, blank=True)
    org_account_balance = models.CharField(max_length=24, blank=True)
    third_party_trans_id = models.CharField(max_length=64, blank=True)
    msisdn = models.CharField(max_length=64, blank=True, help_text="As delivered: SHA-256 hex (v1) or masked (v2).")
    first_name = models.CharField(max_length=100, blank=True)
    middle_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            # One confirmation owns a TransID; copies are stored too, as duplicates (or rejected).
            models.UniqueConstraint(
                fields=["trans_id"],
                name="payments_c2b_one_owner_per_trans_id",
                condition=models.Q(kind="confirmation", trans_id__isnull=False)
                & ~models.Q(status__in=["rejected", "duplicate"]),
            ),
        ]
        indexes = [models.Index(fields=["trans_id"], name="payments_c2b_trans_id_idx")]

    def __str__(self):
        return f"C2B {self.kind} {self.trans_id or '?'} {self.status}"
