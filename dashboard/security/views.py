"""Failed-login lockouts for the Admin: who is locked out from which address now, and lifting a lockout."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.security import current_lockouts, lockout_clear
from core.permissions import permission_required


class ClearLockoutForm(forms.Form):
    username = forms.CharField(max_length=255)
    ip_address = forms.GenericIPAddressField()


@permission_required("axes.view_accessattempt")
def lockouts(request):
    rows = current_lockouts()
    context = {
        "locked": [row for row in rows if row["locked"]],
        "watch": [row for row in rows if not row["locked"]],
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cool_off_minutes": settings.AXES_COOLOFF_MINUTES,
    }
    return render(request, "dashboard/security_lockouts.html", context)


@require_POST
@permission_required("axes.view_accessattempt", "axes.delete_accessattempt")
def lockout_clear_view(request):
    form = ClearLockoutForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a lockout from the list to lift.")
        return redirect("dashboard:security_lockouts")
    data = form.cleaned_data
    if lockout_clear(username=data["username"], ip_address=data["ip_address"], actor=request.user, request=request):
        messages.success(request, f"{data['username']} can log in again from {data['ip_address']}.")
    else:
        messages.info(request, "That lockout had already ended.")
    return redirect("dashboard:security_lockouts")
