"""The member's own membership certificate. There is no id in the URL: a member can only ever get theirs."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from core.exceptions import show_domain_error
from members.certificates import CertificateUnavailable, certificate_attachment
from members.selectors import member_of_user_or_404


@login_required
@require_GET
def certificate(request):
    member = member_of_user_or_404(request.user)
    try:
        return certificate_attachment(member)
    except CertificateUnavailable as error:
        # The dashboard explains the member's status and what to do next; the message says why no certificate.
        show_domain_error(request, error, level=messages.WARNING)
        return redirect("portal:home")
