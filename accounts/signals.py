from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.models import AuditLog
from audit.services import audit_log

from .middleware import touch_session


@receiver(user_logged_in)
def audit_login(sender, request, user, **kwargs):
    audit_log(action=AuditLog.Action.LOGIN, actor=user, target=user, request=request)
    if request is not None and hasattr(request, "session"):
        # The idle timeout counts from the login (accounts.middleware).
        touch_session(request)


@receiver(user_logged_out)
def audit_logout(sender, request, user, **kwargs):
    if user is not None:
        reason = getattr(request, "logout_reason", None)
        data = {"reason": reason} if reason else None
        audit_log(action=AuditLog.Action.LOGOUT, actor=user, target=user, data=data, request=request)


@receiver(user_login_failed)
def audit_login_failure(sender, credentials, request=None, **kwargs):
    # Only the name typed is kept; never the password (Django already masks it in `credentials`).
    username = str(credentials.get("username") or credentials.get("email") or "")[:254]
    data = {"username": username}
    if credentials.get("stage"):  # "second_factor": the password was right, the code was not
        data["stage"] = str(credentials["stage"])
    audit_log(action=AuditLog.Action.LOGIN_FAILED, data=data, request=request)
