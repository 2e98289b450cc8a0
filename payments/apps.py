from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self):
        # Registered here, once the models are loaded: the system checks, and the Celery tasks that the
        # services queue by name (core.queue) in every process, not only in workers that autodiscover them.
        from . import checks, tasks  # noqa: F401
