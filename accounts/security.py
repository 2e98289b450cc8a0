"""Failed-login lockouts (django-axes, configured in config/settings.py under AXES_* and LOGIN_FAILURE_*).

AXES_FAILURE_LIMIT failed logins for one username from one client address lock that pair out for
AXES_COOLOFF_MINUTES: the attacker's address is what gets locked, the member logs in from elsewhere.
Two higher limits stop what that pair lock lets through, with the same cool-off (never a permanent lock):
LOGIN_FAILURE_LIMIT_PER_ADDRESS failures from one address across accounts lock that address (one address
trying many accounts), LOGIN_FAILURE_LIMIT_PER_ACCOUNT failures at one account across addresses lock that
account (many addresses trying one). The second does let a crowd of addresses keep a member out, but only
for the cool-off after they stop, which is the price of not letting them guess on.
A wrong second-step code counts as a failed login (accounts.two_factor_views, api.auth).
Usernames are counted in one spelling (core.emails.normalise_email): a look-alike gives no extra tries.

The web answer to a locked-out login is a page saying when to try again, with status 429 and a
Retry-After header; the API's is its usual error shape with status 429 (api.auth).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import math
from collections.abc import Mapping

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.db.models import Max, Sum
from django.dispatch import receiver
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone

from audit.models import AuditLog
from audit.services import audit_log
from core.cache import rate_limit_hit
from core.emails import MAX_LENGTH, normalise_email
from core.http import client_ip

LOCKED_OUT_MESSAGE = "Too many failed logins for this account or from your address."
security_logger = logging.getLogger("security")


def normalise_username(value) -> str | None:
    return normalise_email(value)[:MAX_LENGTH] or None


def axes_username(request, credentials=None) -> str | None:
    """AXES_USERNAME_CALLABLE: the email typed, normalised (ALICE@, ａｌｉｃｅ@ and alice@ are one account's tries)."""
    if credentials:
        value = credentials.get("username") or credentials.get("email")
        if value is not None:
            return normalise_username(value)
    if request is None:
        return None
    data = getattr(request, "data", None)  # a DRF request's parsed body
    if not isinstance(data, Mapping):
        data = getattr(request, "POST", {})
    return normalise_username(data.get("username"))


def _cool_off() -> datetime.timedelta:
    return get_cool_off() or datetime.timedelta(0)


def _recent_attempts():
    return AccessAttempt.objects.filter(attempt_time__gte=timezone.now() - _cool_off())


def lockout_until(*, username: str | None, ip_address: str | None) -> datetime.datetime | None:
    """When this username may try again from this address, or None if it is not locked out: locked as a
    pair, or the address locked across accounts, or the account across addresses (the latest end wins)."""
    recent = _recent_attempts()
    checks = [(recent.filter(username=username, ip_address=ip_address), get_failure_limit(None, None))]
    if ip_address:
        checks.append((recent.filter(ip_address=ip_address), settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS))
    if username:
        checks.append((recent.filter(username=username), settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT))
    ends = []
    for attempts, limit in checks:
        totals = attempts.aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        if totals["failures"] and totals["failures"] >= limit:
            ends.append(totals["last"] + _cool_off())
    return max(ends, default=None)


def is_locked_out(request, username: str | None) -> bool:
    return not AxesProxyHandler.is_allowed(request, {"username": username})


def forget_failures(request, username: str | None) -> None:
    """After a complete login that does not go through login() (the API's), as AXES_RESET_ON_SUCCESS does."""
    AxesProxyHandler.update_request(request)
    AxesProxyHandler.get_implementation().reset_user_attempts(request, {"username": username})


def retry_after_seconds(until: datetime.datetime | None) -> int:
    if until is None:
        return int(_cool_off().total_seconds())
    return max(1, math.ceil((until - timezone.now()).total_seconds()))


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: what a locked-out login gets instead of the login page."""
    username = axes_username(request, credentials)
    until = lockout_until(username=username, ip_address=client_ip(request))
    seconds = retry_after_seconds(until)
    minutes = max(1, math.ceil(seconds / 60))
    if request.path.startswith("/api/"):
        message = f"{LOCKED_OUT_MESSAGE} Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        body = {"error": {"status": 429, "code": "locked_out", "message": message, "retry_after_seconds": seconds}}
        response = JsonResponse(body, status=429)
    else:
        context = {"until": until, "minutes": minutes, "cool_off_minutes": int(_cool_off().total_seconds() // 60)}
        response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response


# --- The staff page -----------------------------------------------------------------------------------------


def current_lockouts() -> list[dict]:
    """Username and address pairs locked out now, and pairs with failures below the limit (to watch).

    A pair is locked too while its address, or its account, is over its wider limit; clearing pairs brings
    those totals down again."""
    limit = get_failure_limit(None, None)
    recent = _recent_attempts()
    rows = (
        recent.values("username", "ip_address")
        .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        .order_by("-last")
    )
    by_address = _locked_totals(recent, "ip_address", settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS)
    by_account = _locked_totals(recent, "username", settings.LOGIN_FAILURE_LIMIT_PER_ACCOUNT)
    result = []
    for row in rows:
        ends = [row["last"] + _cool_off()] if row["failures"] >= limit else []
        ends += [end for end in (by_address.get(row["ip_address"]), by_account.get(row["username"])) if end]
        until = max(ends, default=None)
        result.append({**row, "locked": until is not None, "until": until})
    return result


def _locked_totals(attempts, field: str, limit: int) -> dict:
    """{value of `field`: end of its lockout} for the values over `limit` failures."""
    totals = attempts.values(field).annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
    return {row[field]: row["last"] + _cool_off() for row in totals.filter(failures__gte=limit)}


def lockout_clear(*, username: str, ip_address: str, actor, request=None) -> int:
    """Forget the failed logins of this pair (it may log in again at once); audited."""
    count = AccessAttempt.objects.filter(username=username, ip_address=ip_address).delete()[0]
    audit_log(
        action=AuditLog.Action.SECURITY_EVENT,
        actor=actor,
        data={"event": "lockout_cleared", "username": username, "ip_address": ip_address, "records": count},
        request=request,
    )
    return count


@receiver(user_locked_out)
def audit_lockout(sender, request=None, username=None, ip_address=None, **kwargs):
    audit_log(
        action=AuditLog.Action.SECURITY_EVENT,
        data={"event": "login_locked_out", "username": username or ""},
        request=request,
    )


def password_reset_allowed(request, email: str) -> bool:
    """Count one password reset request; False when its client address has asked
    PASSWORD_RESET_RATE_PER_ADDRESS times already (at any accounts) or its account
    PASSWORD_RESET_RATE_PER_ACCOUNT times (from any addresses).

    The account is counted by its normalised email whether or not an account has it, so the answer never
    depends on whether one exists; a request refused by its address is not counted against the account
    (one address cannot use up a member's resets beyond its own limit). With the cache down nothing is
    counted and every request is allowed (core.cache).
    """
    address = client_ip(request) or "unknown"
    if rate_limit_hit(scope="password_reset_address", ident=address, rate=settings.PASSWORD_RESET_RATE_PER_ADDRESS):
        security_logger.warning("Password reset refused: too many requests from %s.", address)
        return False
    # Hashed: an email can be longer than a cache key may be, and has no business in the cache's key list.
    account = hashlib.sha256((normalise_username(email) or "").encode()).hexdigest()
    if rate_limit_hit(scope="password_reset_account", ident=account, rate=settings.PASSWORD_RESET_RATE_PER_ACCOUNT):
        security_logger.warning("Password reset refused: too many requests for one account (last from %s).", address)
        return False
    return True
