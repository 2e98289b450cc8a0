"""`django.contrib.admin` with our admin site as the default one (INSTALLED_APPS names this class).

Kept apart from admin_site.py: an AppConfig module is imported before the models are ready.
"""

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "accounts.admin_site.SecureAdminSite"
