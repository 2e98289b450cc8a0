"""The public page behind a certificate's QR code: anyone may open it, so it says only what a verifier needs.

It is the same for every visitor, so shared caches may keep it: the template is rendered without the
request (no context processor can read the session, the user or the CSRF token, so no `Vary: Cookie` and
no `Set-Cookie`), and the navbar shows its signed-out form even to a signed-in member.
"""

import datetime
import hashlib
from calendar import timegm

from django.conf import settings
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import http_date, quote_etag
from django.views.decorators.http import require_safe

from .certificates import grace_end_of, membership_verification
from .models import Member

MAX_AGE = 300


@require_safe
def verify(request, token):
    member = Member.objects.select_related("user", "category").filter(verification_token=token).first()
    if member is None:
        # Unknown and malformed tokens look alike; nothing says whether a token ever existed.
        response = HttpResponse(_render(verification=None), status=404)
        return _public(response)

    today = timezone.localdate()
    verification = membership_verification(member, today)
    shown = {
        "name": member.full_name,
        "membership_number": member.membership_number or "",
        "category": member.category.name,
        "verification": verification,
        "today": today,
    }
    # The ETag hashes what the page shows, so a renamed category or member, or a membership lapsing by
    # date alone, is never answered with a stale 304. Last-Modified is for clients without ETags.
    etag = quote_etag(hashlib.sha256(repr(sorted(shown.items())).encode()).hexdigest()[:32])
    last_modified = _last_modified(member, today)
    response = get_conditional_response(request, etag=etag, last_modified=last_modified)
    if response is None:
        response = HttpResponse(_render(**shown))
    response["ETag"] = etag
    response["Last-Modified"] = http_date(last_modified)
    return _public(response)


def _render(**context) -> str:
    return render_to_string("members/verify.html", {"ORGANISATION_NAME": settings.ORGANISATION_NAME, **context})


def _public(response: HttpResponse) -> HttpResponse:
    patch_cache_control(response, public=True, max_age=MAX_AGE)
    response["X-Robots-Tag"] = "noindex"
    return response


def _last_modified(member: Member, today: datetime.date) -> int:
    """The later of the last write and the last midnight at which the standing changed by date alone."""
    moments = [member.updated_at, member.status_changed_at]
    for boundary in (member.period_end, grace_end_of(member)):
        if boundary is not None and boundary < today:
            day_after = boundary + datetime.timedelta(days=1)
            moments.append(timezone.make_aware(datetime.datetime.combine(day_after, datetime.time.min)))
    return timegm(max(moments).utctimetuple())
