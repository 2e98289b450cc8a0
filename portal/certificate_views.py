"""The member's own membership certificate. There is no id in the URL: a member can only ever get theirs."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from members.certificates import CertificateUnavailable, certificate_attachment
from members.models import Member


@login_required
@require_GET
def certificate(request):
    try:
        member = Member.objects.select_related("user", "category").get(user=request.user)
    except Member.DoesNotExist:
        raise Http404("You have no membership.") from None
    try:
        return certificate_attachment(member)
    except CertificateUnavailable as error:
        # The dashboard explains the member's status and what to do next; the message says why no certificate.
        messages.warning(request, str(error))
        return redirect("portal:home")
