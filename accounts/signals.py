from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from audit.models import AuditLog
from audit.services import audit_log

from .middleware import touch_session
from .models import User


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


@receiver(pre_save, sender=User)
def note_credentials_change(sender, instance, raw=False, **kwargs):
    # On the model, not in the views: the admin, a reset, a change and `set_password()` + save all end here.
    instance._revoke_api_tokens = False
    if raw or instance.pk is None:
        return
    stored = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if stored is None:
        return
    instance._revoke_api_tokens = instance.password != stored["password"] or (
        stored["is_active"] and not instance.is_active
    )


@receiver(post_save, sender=User)
def revoke_api_tokens_on_credentials_change(sender, instance, raw=False, **kwargs):
    """A new password or a deactivation ends every API session: whoever held a refresh token must log in again."""
    if raw or not getattr(instance, "_revoke_api_tokens", False):
        return
    instance._revoke_api_tokens = False
    outstanding = OutstandingToken.objects.filter(user=instance, blacklistedtoken__isnull=True)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
