from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET

from audit.models import AuditLog
from audit.services import audit_log
from core.cache import rate_limit_hit
from core.http import client_ip, private_file_response

from .forms import RegistrationForm
from .models import Document
from .services import member_register


def register(request):
    if request.user.is_authenticated:
        return redirect("accounts:home")
    if request.method == "POST":
        # Counted before the form is validated: checking the uploaded documents is the costly part.
        wait = rate_limit_hit(scope="register", ident=client_ip(request) or "unknown", rate=settings.REGISTER_RATE)
        if wait:
            return _register_throttled(request, wait)
    form = RegistrationForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            member = member_register(
                email=data["email"],
                password=data["password1"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                category=data["category"],
                documents=form.document_uploads(),
                consent_channel="web",
                request=request,
                **form.profile(),
            )
        except ValidationError as error:
            # A race the form could not see (the same email or ID registered a moment ago).
            if hasattr(error, "error_dict"):
                for field, errors in error.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, error)
        else:
            login(request, member.user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(
                request,
                "Application received. We will review your documents and let you know by email.",
            )
            return redirect("portal:home")
    status = 400 if request.method == "POST" else 200
    return render(request, "members/register.html", {"form": form}, status=status)


def _register_throttled(request, wait: int):
    """The form again with what was typed (never the passwords, never the files), unvalidated, and when to retry."""
    typed = {name: value for name, value in request.POST.items() if name not in ("password1", "password2")}
    form = RegistrationForm(initial=typed)
    context = {"form": form, "retry_minutes": -(-wait // 60)}
    response = render(request, "members/register.html", context, status=429)
    response["Retry-After"] = str(wait)
    return response


def can_view_document(user, document: Document) -> bool:
    if not user.is_authenticated or not user.is_active:
        return False
    if document.member.user_id == user.pk:
        return True
    return user.has_perm("members.view_document")


@login_required
@require_GET
def document_download(request, pk):
    """Documents are served only to their owner and to staff allowed to see them; anyone else gets a 404,
    never a hint that the document exists."""
    document = get_object_or_404(Document.objects.select_related("member"), pk=pk)
    if not document.file:
        raise Http404  # an erased member's document: the row stays, the file is gone (privacy.erasure)
    if not can_view_document(request.user, document):
        raise Http404
    if document.member.user_id != request.user.pk:
        audit_log(action=AuditLog.Action.DOCUMENT_DOWNLOADED, actor=request.user, target=document, request=request)
    try:
        response = private_file_response(
            document.file,
            filename=f"{document.doc_type}{document.file.name[document.file.name.rfind('.') :]}",
            content_type=document.content_type,
        )
    except FileNotFoundError:
        raise Http404 from None  # the row is there but the file is not (lost from the disk or the bucket)
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response
