from django import forms
from django.core.exceptions import ValidationError

from core.emails import NormalisedEmailField
from core.phones import normalise_phone
from members.models import Member
from members.profile import EMAIL_TAKEN, PROFILE_FIELDS, email_in_use, normalise_email, profile_values


def _text(name: str, **kwargs) -> forms.CharField:
    model_field = Member._meta.get_field(name)
    return forms.CharField(label=model_field.verbose_name.capitalize(), max_length=model_field.max_length, **kwargs)


class ProfileForm(forms.Form):
    """What a member may change about themselves. Changing the email or phone asks for the password again:
    whoever holds a stolen session must not redirect password resets or M-Pesa prompts."""

    email = NormalisedEmailField(max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    phone_number = forms.CharField(
        max_length=20,
        help_text="The M-Pesa number you pay from, e.g. 0712 345 678.",
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    other_names = _text("other_names", required=False)
    postal_address = _text("postal_address", required=False, help_text="e.g. P.O. Box 1234-00100, Nairobi")
    physical_address = _text(
        "physical_address", required=False, widget=forms.TextInput(attrs={"autocomplete": "street-address"})
    )
    occupation = _text("occupation", required=False)
    organisation = _text("organisation", required=False)
    organisation.label = "Employer or organisation"
    notify_by_email = forms.BooleanField(label="Email me", required=False)
    notify_by_sms = forms.BooleanField(label="Text me (SMS)", required=False)
    current_password = forms.CharField(
        label="Current password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Needed only to change your email address or phone number.",
    )

    def __init__(self, *args, member: Member, **kwargs):
        self.member = member
        kwargs.setdefault("initial", profile_values(member))
        super().__init__(*args, **kwargs)

    def clean_email(self):
        email = normalise_email(self.cleaned_data["email"])
        if email != normalise_email(self.member.user.email) and email_in_use(
            email, exclude_user_id=self.member.user_id
        ):
            raise ValidationError(EMAIL_TAKEN)
        return email

    def clean_phone_number(self):
        return normalise_phone(self.cleaned_data["phone_number"], self.member.country_id)

    def clean(self):
        data = super().clean()
        changing = [
            label
            for name, label, current in (
                ("email", "email address", normalise_email(self.member.user.email)),
                ("phone_number", "phone number", self.member.phone_number),
            )
            if name in data and data[name] != current
        ]
        if changing:
            password = data.get("current_password")
            what = " and ".join(changing)
            if not password:
                self.add_error("current_password", f"Enter your current password to change your {what}.")
            elif not self.member.user.check_password(password):
                self.add_error("current_password", f"That is not your current password; your {what} was not changed.")
        return data

    def profile_data(self) -> dict:
        return {name: self.cleaned_data[name] for name in PROFILE_FIELDS}
