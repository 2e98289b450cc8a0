"""Staff download a member's certificate, e.g. to print it for a member who does not use the portal."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET

from core.permissions import permission_required
from members.certificates import CertificateUnavailable, certificate_attachment
from members.models import Member


@permission_required("members.view_member")
@require_GET
def member_certificate(request, pk):
    member = get_object_or_404(Member.objects.select_related("user", "category"), pk=pk)
    try:
        return certificate_attachment(member)
    except CertificateUnavailable:
        messages.error(request, f"No certificate: the membership is {member.get_status_display().lower()}.")
        return redirect("dashboard:member_detail", pk=member.pk)
