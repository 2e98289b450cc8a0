from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django_otp.plugins.otp_static import admin as otp_static_admin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp import admin as otp_totp_admin
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework_simplejwt.token_blacklist import admin as token_blacklist_admin
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from audit.models import AuditLog
from audit.services import audit_log
from core.admin import ReadOnlyAdmin

from .models import Consent, User


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "first_name", "last_name")


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "is_staff", "is_active", "date_joined"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    search_fields = ["email", "first_name", "last_name"]
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name")}),
        ("Roles and permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "first_name", "last_name", "password1", "password2")}),
    )
    readonly_fields = ["last_login", "date_joined"]

    ACCESS_FIELDS = ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")

    def save_related(self, request, form, formsets, change):
        before = set(form.instance.groups.values_list("name", flat=True)) if change else set()
        super().save_related(request, form, formsets, change)
        changed = [name for name in form.changed_data if name in self.ACCESS_FIELDS]
        if changed:
            after = set(form.instance.groups.values_list("name", flat=True))
            audit_log(
                action=AuditLog.Action.ROLE_CHANGED,
                actor=request.user,
                target=form.instance,
                data={
                    "fields": changed,
                    "groups_added": sorted(after - before),
                    "groups_removed": sorted(before - after),
                    "is_staff": form.instance.is_staff,
                    "is_superuser": form.instance.is_superuser,
                    "is_active": form.instance.is_active,
                },
                request=request,
            )


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    """Read-only: consents are the proof of what each person agreed to, and when."""

    list_display = ["pk", "user", "purpose", "version", "channel", "given_at", "withdrawn_at"]
    list_filter = ["purpose", "version", "channel"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    show_full_result_count = False


# --- Secrets stay out of the admin ------------------------------------------------------------------------
# The third-party admins above (imported first, so they are registered) show an authenticator's key and its
# QR code, the recovery codes and each refresh token in full: whoever reads them can pass that person's
# second step or use their API session. They are replaced by admins that show who has what, and when, and
# can remove a device or code set (a lost phone), but never show or set a secret.


class TOTPDeviceAdmin(otp_totp_admin.TOTPDeviceAdmin):
    def get_list_display(self, request):
        return [name for name in self.list_display if name != "qrcode_link"]

    def get_fieldsets(self, request, obj=None):
        return [
            (title, {**options, "fields": [f for f in options["fields"] if f not in ("key", "qrcode_link")]})
            for title, options in super().get_fieldsets(request, obj)
            if [f for f in options["fields"] if f not in ("key", "qrcode_link")]
        ]

    def get_urls(self):
        # Without the config and QR code views, which render the key.
        return admin.ModelAdmin.get_urls(self)

    def has_add_permission(self, request):
        return False  # a device set up by someone else has a key they know; each person adds their own


class StaticDeviceAdmin(otp_static_admin.StaticDeviceAdmin):
    inlines = []  # the codes themselves

    def has_add_permission(self, request):
        return False


class OutstandingTokenAdmin(token_blacklist_admin.OutstandingTokenAdmin):
    fields = ["jti", "user", "created_at", "expires_at"]

    def get_readonly_fields(self, request, obj=None):
        return self.fields


for model, model_admin in [
    (TOTPDevice, TOTPDeviceAdmin),
    (StaticDevice, StaticDeviceAdmin),
    (OutstandingToken, OutstandingTokenAdmin),
]:
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
