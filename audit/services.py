from django.db import models

from core.http import client_ip

from .models import AuditLog


def audit_log(
    *,
    action: str,
    actor=None,
    target: models.Model | None = None,
    data: dict | None = None,
    reason: str = "",
    request=None,
) -> AuditLog:
    """Append one entry to the audit trail. Never pass secrets (passwords, OTPs, ID numbers) in data."""
    if actor is not None and not getattr(actor, "is_authenticated", True):
        actor = None
    request_user = getattr(request, "user", None)
    if actor is None and request_user is not None and request_user.is_authenticated:
        actor = request_user
    return AuditLog.objects.create(
        action=action,
        actor=actor,
        actor_repr=str(actor) if actor is not None else "",
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:255] if target is not None else "",
        data=data or {},
        reason=reason,
        ip_address=client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "")[:255] if request is not None else ""),
    )
