"""Roles are Django groups. This module is the one place that says what each role may do.

`sync_roles` creates the groups and sets their permissions; a migration runs it once and every later
`migrate` runs it again (post_migrate), so permissions added by new apps reach the roles.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions

ADMIN = "Admin"
STAFF = "Staff"
FINANCE = "Finance"
MEMBER = "Member"
ROLES = (ADMIN, STAFF, FINANCE, MEMBER)
STAFF_ROLES = (ADMIN, STAFF, FINANCE)

# Permissions only Admin holds (Admin gets every permission; no other role may list these). Erasing a
# member's personal data cannot be undone, so deciding erasure requests (privacy app) is an Admin's call.
# Seeing and lifting failed-login lockouts (django-axes' models; /staff/security/lockouts/) is an Admin's too.
ADMIN_ONLY_PERMISSIONS = ["privacy.decide_erasure", "axes.view_accessattempt", "axes.delete_accessattempt"]

# "app_label.codename"; Admin gets every permission.
ROLE_PERMISSIONS = {
    STAFF: [
        "members.view_member",
        "members.change_member",
        "members.review_application",
        "members.view_document",
        "members.review_document",
        "members.view_membershipcategory",
        "members.view_country",
        "members.view_region",
    ],
    FINANCE: [
        "members.view_member",
        "members.record_offline_payment",
        "members.export_member",
        "members.view_membershipcategory",
        "members.view_country",
        "members.view_region",
        "payments.view_payment",
        "payments.view_all_payments",
        "payments.view_mpesacallback",
        "payments.export_payment",
        "payments.settle_unapplied_payment",
    ],
    MEMBER: [],
}


def sync_roles(apps=None, verbosity=0):
    """Create the role groups and give each exactly its permissions (missing ones are skipped)."""
    if apps is None:
        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        if role == ADMIN:
            permissions = Permission.objects.all()
        else:
            wanted = ROLE_PERMISSIONS[role]
            permissions = [
                p
                for p in Permission.objects.select_related("content_type")
                if f"{p.content_type.app_label}.{p.codename}" in wanted
            ]
        group.permissions.set(permissions)


def sync_roles_after_migrate(sender, app_config=None, using="default", apps=None, **kwargs):
    # post_migrate fires once per app; permissions of apps after this one may not exist yet, so make
    # them all now.
    for config in global_apps.get_app_configs():
        create_permissions(config, verbosity=0, using=using)
    sync_roles()


def user_roles(user) -> set[str]:
    if not user.is_authenticated:
        return set()
    return set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))


def is_staff_user(user) -> bool:
    """Staff pages are for Admin, Staff and Finance (and superusers)."""
    return user.is_authenticated and user.is_active and (user.is_superuser or bool(user_roles(user) & set(STAFF_ROLES)))
