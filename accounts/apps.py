from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self):
        # These import models, so they wait for the app registry: the login and lockout audit receivers, and
        # the role groups kept in step with the permissions after each migrate.
        from . import security, signals  # noqa: F401
        from .roles import sync_roles_after_migrate

        post_migrate.connect(sync_roles_after_migrate, sender=self)
