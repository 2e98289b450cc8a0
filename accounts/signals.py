from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.models import AuditLog
from audit.services import audit_log


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs):
    audit_log(action=AuditLog.Action.LOGIN, actor=user, target=user, request=request)


@receiver(user_logged_out)
def audit_logout(sender, request, user, **kwargs):
    if user is not None:
        audit_log(action=AuditLog.Action.LOGOUT, actor=user, target=user, request=request)


@receiver(user_login_failed)
def audit_login_failure(sender, credentials, request=None, **kwargs):
    # Only the name typed is kept; never the password (Django already masks it in `credentials`).
    username = str(credentials.get("username") or credentials.get("email") or "")[:254]
    audit_log(action=AuditLog.Action.LOGIN_FAILED, data={"username": username}, request=request)
