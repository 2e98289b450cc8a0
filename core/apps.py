from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self):
        from . import (
            checks,  # noqa: F401  (registers the system checks)
            request_id,  # noqa: F401  (connects the request id to Celery tasks and request end)
        )
