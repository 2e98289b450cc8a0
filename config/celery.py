import logging
import os
from logging.config import dictConfig

from celery import Celery, signals
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect(weak=False)
def use_django_logging(loglevel=None, **kwargs):
    """Workers log through settings.LOGGING like the web app (LOG_FORMAT, the request id, the redaction
    filter) instead of Celery replacing the root logger's handlers with its own unfiltered ones."""
    dictConfig(settings.LOGGING)
    if loglevel:  # `celery worker -l ...` still chooses the level
        logging.getLogger().setLevel(loglevel)
