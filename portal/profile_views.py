"""The member's own profile. There is no id in the URL: a member can only ever edit theirs."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from members.profile import member_update_profile
from members.selectors import member_of_user_or_404

from .profile_forms import ProfileForm


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    member = member_of_user_or_404(request.user)
    if request.method != "POST":
        return render(request, "portal/profile.html", {"form": ProfileForm(member=member), "member": member})
    form = ProfileForm(request.POST, member=member)
    if form.is_valid():
        try:
            changed = member_update_profile(
                member=member, actor=request.user, data=form.profile_data(), request=request
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if changed:
                messages.success(request, "Your profile has been saved.")
            else:
                messages.info(request, "Nothing to save: your profile is unchanged.")
            return redirect("portal:home")
    return render(request, "portal/profile.html", {"form": form, "member": member}, status=400)
