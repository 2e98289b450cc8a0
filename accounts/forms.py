from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.template.loader import render_to_string

from core.emails import NormalisedEmailField
from notifications.models import Message
from notifications.services import message_queue


class EmailAuthenticationForm(AuthenticationForm):
    # Normalised before it is checked, counted or looked up (core.emails): look-alikes are one account.
    username = NormalisedEmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )


class EmailPasswordResetForm(PasswordResetForm):
    email = NormalisedEmailField(
        label="Email", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )

    def send_mail(
        self, subject_template_name, email_template_name, context, from_email, to_email, html_email_template_name=None
    ):
        """Queue the email in the outbox (notifications) instead of talking to the mail server inside the
        request: a worker sends it, and a slow or unreachable mail server or broker never holds up or breaks
        the page. Once sent, the row's copy of the link is removed (notifications.services)."""
        subject = "".join(render_to_string(subject_template_name, context).splitlines())
        body = render_to_string(email_template_name, context)
        html_body = render_to_string(html_email_template_name, context) if html_email_template_name else ""
        message_queue(
            user=context.get("user"),
            channel=Message.Channel.EMAIL,
            recipient=to_email,
            subject=subject,
            body=body,
            html_body=html_body,
            event="password_reset",  # in notifications.services.LINK_BODY_EVENTS: the link is not kept
        )


class CodeForm(forms.Form):
    """The second step of a login: a code from the authenticator app, or a recovery code."""

    code = forms.CharField(
        label="Code",
        max_length=32,
        strip=True,
        help_text="The 6-digit code your authenticator app shows now, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}),
    )


class CurrentPasswordForm(forms.Form):
    """Re-authentication: changing a security setting asks for the password again."""

    current_password = forms.CharField(
        label="Current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user, **kwargs):
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_current_password(self):
        password = self.cleaned_data["current_password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("That is not your current password.")
        return password


class TwoFactorSetupForm(CurrentPasswordForm):
    code = forms.CharField(
        label="Code from the app",
        max_length=10,
        help_text="After adding the account to your app, type the 6-digit code it shows.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args, device, **kwargs):
        self.device = device
        super().__init__(*args, **kwargs)

    def clean_code(self):
        code = "".join(self.cleaned_data["code"].split())
        if not (code.isdigit() and len(code) == 6):
            raise forms.ValidationError("Type the 6 digits the app shows.")
        return code

    def clean(self):
        data = super().clean()
        # Only with the right password is the code tried (and, if right, used up).
        if not self.errors and not self.device.verify_token(data["code"]):
            self.add_error("code", "That code is not right. Check the phone's clock; type the code the app shows now.")
        return data
