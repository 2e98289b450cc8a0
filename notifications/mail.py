"""Sending one email through Django's configured EMAIL_BACKEND, with failures sorted into retry or give up.

SMTP itself says which failures are worth retrying: 4xx replies are temporary, 5xx are permanent.
Connection problems (refused, reset, timed out, TLS) are temporary too.
"""

from __future__ import annotations

import smtplib
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.utils import DNS_NAME

from .errors import EmailError


def send_email(*, to: str, subject: str, body: str, html_body: str = "") -> str:
    """Send one message to one address and return its Message-ID; raise EmailError on failure."""
    message_id = make_msgid(domain=str(DNS_NAME))
    email = EmailMultiAlternatives(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={"Message-ID": message_id},
    )
    if html_body:
        email.attach_alternative(html_body, "text/html")
    try:
        email.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as error:
        codes = sorted({code for code, _ in error.recipients.values()})
        raise EmailError(
            f"The mail server refused the recipient (SMTP {', '.join(map(str, codes))}).",
            permanent=all(code >= 500 for code in codes),
        ) from None
    except smtplib.SMTPResponseException as error:
        # Sender refused, data refused, authentication failed, ...: the server's own reply code decides.
        raise EmailError(
            f"The mail server answered {error.smtp_code}: {_text(error.smtp_error)}",
            permanent=error.smtp_code >= 500,
        ) from None
    except OSError as error:
        # smtplib.SMTPException is an OSError too: disconnects, refused connections, timeouts, TLS errors.
        raise EmailError(
            f"Could not reach the mail server ({type(error).__name__}: {error}).", permanent=False
        ) from None
    except ValueError as error:
        # A header Django refuses (a newline in the subject, a malformed address): sending again will not help.
        raise EmailError(f"The email could not be built: {error}", permanent=True) from None
    return message_id


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return " ".join(value.split())[:200]
