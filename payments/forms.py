from django import forms


class MpesaPayForm(forms.Form):
    phone_number = forms.CharField(
        label="M-Pesa phone number",
        max_length=20,
        help_text="The Safaricom number that will get the payment prompt, e.g. 0712 345 678.",
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    payment_type = forms.CharField(widget=forms.HiddenInput)
