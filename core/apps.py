from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self):
        # Once the app registry is ready: the system checks register themselves, and request_id connects the
        # request id to Celery tasks and to the end of each request.
        from . import checks, request_id  # noqa: F401
