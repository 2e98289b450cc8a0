"""The public privacy notice and the member's "My data and privacy" pages. No id in any URL: a member only
ever sees and changes their own."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.consents import OPTIONAL_PURPOSES, ConsentError, consent_give, consent_withdraw, current_consents
from accounts.models import Consent
from core.exceptions import show_domain_error
from core.http import private_file_response
from members.selectors import member_of_user_or_404
from payments.models import Payment

from .erasure import ErasureError, erasure_cancel, erasure_request
from .export import export_wait_seconds, member_data_export
from .forms import ErasureRequestForm
from .models import ErasureRequest


@require_GET
def notice(request):
    return render(
        request,
        "privacy/notice.html",
        {
            "version": settings.PRIVACY_NOTICE_VERSION,
            "contact_email": settings.PRIVACY_CONTACT_EMAIL,
            "contact_phone": settings.PRIVACY_CONTACT_PHONE,
            "contact_address": settings.PRIVACY_CONTACT_ADDRESS,
            "retention_days": settings.REJECTED_APPLICATION_RETENTION_DAYS,
        },
    )


def _portal_context(request, member, **extra):
    consents = current_consents(request.user)
    notice_consent = consents[Consent.Purpose.PRIVACY_NOTICE]
    return {
        "member": member,
        "version": settings.PRIVACY_NOTICE_VERSION,
        "notice_consent": notice_consent,
        "notice_current": notice_consent is not None and notice_consent.version == settings.PRIVACY_NOTICE_VERSION,
        "optional_consents": [
            {"purpose": purpose, "label": purpose.label, "consent": consents[purpose]} for purpose in OPTIONAL_PURPOSES
        ],
        "history": Consent.objects.filter(user=request.user).order_by("-given_at", "-pk")[:20],
        "pending_erasure": ErasureRequest.objects.filter(member=member, status=ErasureRequest.Status.PENDING).first(),
        "last_decision": ErasureRequest.objects.filter(member=member)
        .exclude(status=ErasureRequest.Status.PENDING)
        .first(),
        "export_interval": settings.DATA_EXPORT_MIN_INTERVAL_SECONDS,
        **extra,
    }


@login_required
@require_GET
def portal(request):
    member = member_of_user_or_404(request.user)
    return render(request, "privacy/portal.html", _portal_context(request, member))


@login_required
@require_POST
def accept(request):
    member_of_user_or_404(request.user)
    consent_give(
        user=request.user, purpose=Consent.Purpose.PRIVACY_NOTICE, channel=Consent.Channel.WEB, request=request
    )
    messages.success(request, f"Thank you: you have accepted privacy notice version {settings.PRIVACY_NOTICE_VERSION}.")
    return redirect("portal:home" if request.POST.get("next") == "home" else "privacy:portal")


@login_required
@require_POST
def consent(request, purpose):
    member_of_user_or_404(request.user)
    if purpose not in [p.value for p in OPTIONAL_PURPOSES]:
        raise Http404
    action = request.POST.get("action")
    label = Consent.Purpose(purpose).label
    try:
        if action == "give":
            consent_give(user=request.user, purpose=purpose, channel=Consent.Channel.WEB, request=request)
            messages.success(request, f"Saved: you agree to “{label}”.")
        elif action == "withdraw":
            consent_withdraw(user=request.user, purpose=purpose, request=request)
            messages.success(request, f"Saved: you no longer agree to “{label}”.")
        else:
            messages.error(request, "Choose whether you agree or not.")
    except ConsentError as error:
        show_domain_error(request, error)
    return redirect("privacy:portal")


@login_required
@require_POST
def download(request):
    member = member_of_user_or_404(request.user)
    wait = export_wait_seconds(request.user)
    if wait:
        messages.error(request, f"You downloaded your data a moment ago. Try again in {wait} seconds.")
        return render(request, "privacy/portal.html", _portal_context(request, member), status=429)
    export = member_data_export(member=member, channel="web", request=request)
    # A temporary file built for this request: streamed by Django (attachment, nosniff, no-store).
    return private_file_response(export.file, filename=export.filename, content_type="application/zip")


@login_required
@require_http_methods(["GET", "POST"])
def erasure(request):
    member = member_of_user_or_404(request.user)
    form = ErasureRequestForm(request.POST or None)
    context = {
        "member": member,
        "form": form,
        "pending_erasure": ErasureRequest.objects.filter(member=member, status=ErasureRequest.Status.PENDING).first(),
        "has_payments": Payment.objects.filter(member=member).exists(),
    }
    if request.method == "POST" and form.is_valid():
        try:
            erasure_request(
                member=member,
                password=form.cleaned_data["password"],
                note=form.cleaned_data["note"],
                request=request,
            )
        except ErasureError as error:
            show_domain_error(request, error, form=form, field="password" if "password" in str(error) else None)
        else:
            messages.success(request, "Your request has been sent. Staff will decide on it and tell you the outcome.")
            return redirect("privacy:portal")
    status = 400 if request.method == "POST" else 200
    return render(request, "privacy/erasure_request.html", context, status=status)


@login_required
@require_POST
def erasure_cancel_view(request):
    member = member_of_user_or_404(request.user)
    if erasure_cancel(member=member, request=request):
        messages.success(request, "Your erasure request is cancelled. Nothing was erased.")
    else:
        messages.info(request, "There was no open erasure request to cancel.")
    return redirect("privacy:portal")
