from django import forms


class ErasureRequestForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="We ask again so that nobody using your open session can do this.",
    )
    note = forms.CharField(
        label="Anything you want us to know (optional)",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class ErasureApproveForm(forms.Form):
    confirm = forms.BooleanField(
        label="I have checked this request. Erase this person's personal data now; this cannot be undone.",
        error_messages={"required": "Tick the box to confirm: erasure cannot be undone."},
    )


class ErasureRefuseForm(forms.Form):
    reason = forms.CharField(
        label="Reason (the member is told)",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Give the member a reason for the refusal."},
    )
