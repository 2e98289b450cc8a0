from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from .models import Payment
from .services import OFFLINE_METHODS, RESOLUTION_NOTE_MAX, RESOLUTION_REFERENCE_MAX, normalise_external_reference


class MpesaPayForm(forms.Form):
    phone_number = forms.CharField(
        label="M-Pesa phone number",
        max_length=20,
        help_text="The Safaricom number that will get the payment prompt, e.g. 0712 345 678.",
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    payment_type = forms.CharField(widget=forms.HiddenInput)


class OfflinePaymentForm(forms.Form):
    """Finance records money received in cash, by cheque or by bank transfer (payment_record_offline)."""

    method = forms.ChoiceField(
        label="Paid by",
        choices=[(m, Payment.Method(m).label) for m in OFFLINE_METHODS],
        error_messages={
            "required": "Choose how the money was paid: cash, cheque or bank transfer.",
            "invalid_choice": "Choose how the money was paid: cash, cheque or bank transfer.",
        },
    )
    reference = forms.CharField(
        label="Receipt, cheque or bank reference",
        max_length=Payment._meta.get_field("external_reference").max_length,
        help_text="The office receipt number, the cheque number, or the bank transaction reference.",
        error_messages={"required": "Enter the payment reference."},
    )
    received_on = forms.DateField(
        label="Date received",
        required=False,
        help_text="Leave empty for today.",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter the date received as a date, e.g. 2026-11-26."},
    )
    # Prefilled with what is due; the clerk confirms it against the slip. The service refuses any other
    # amount (also when what is due changed since the page was shown, or differs on the date received).
    amount = forms.IntegerField(
        label="Amount received (KES)",
        min_value=1,
        widget=forms.NumberInput(attrs={"step": "1", "inputmode": "numeric"}),
        error_messages={
            "required": "Enter the amount received.",
            "invalid": "Enter the amount received in whole shillings, e.g. 5000.",
            "min_value": "Enter the amount received in whole shillings, e.g. 5000.",
        },
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["received_on"].widget.attrs["max"] = timezone.localdate().isoformat()

    def clean_reference(self):
        reference = normalise_external_reference(self.cleaned_data["reference"])
        if not reference:
            raise ValidationError("Enter the payment reference.")
        return reference

    def clean_received_on(self):
        received_on = self.cleaned_data.get("received_on")
        if received_on and received_on > timezone.localdate():
            raise ValidationError("The date received cannot be in the future.")
        return received_on

    def error_message(self) -> str:
        """Every problem in one line, for the page's message."""
        return " ".join(str(message) for errors in self.errors.values() for message in errors)


class SettlementForm(forms.Form):
    """Finance records what was done with the money of a payment that was not applied
    (payment_settle_unapplied, which also checks that a refund has its reference and a manual application
    its note)."""

    CHOOSE = "Choose what was done with the money: refund due, refunded, kept as credit or applied."

    resolution = forms.ChoiceField(
        label="What was done with the money",
        choices=[("", "Choose…"), *Payment.Resolution.choices],
        error_messages={"required": CHOOSE, "invalid_choice": CHOOSE},
    )
    reference = forms.CharField(
        label="Refund reference",
        required=False,
        max_length=RESOLUTION_REFERENCE_MAX,
        help_text="For a refund made: the M-Pesa, cheque or bank transaction reference.",
    )
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=RESOLUTION_NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="For money applied by hand: what it paid for.",
    )

    def error_message(self) -> str:
        return " ".join(str(message) for errors in self.errors.values() for message in errors)
