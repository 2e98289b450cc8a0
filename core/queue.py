"""Queue a Celery task by its registered name.

A service queues the task that runs another service later (a payment's notifications, a message's
delivery), and that task module imports the services it wraps. Importing the task back into the services
would make the two modules import each other; looking the task up in the Celery app's registry by name keeps
the imports one-way (tasks -> services) and still honours CELERY_TASK_ALWAYS_EAGER, because it is the task
object itself that is called. Each app's AppConfig.ready() imports its tasks module, so every name is
registered in every process (web, worker, beat, commands); an unknown name is a KeyError, never a message
silently sent to nobody.
"""

from __future__ import annotations

from celery import current_app


def task_queue(name: str, *args) -> None:
    """`<task>.delay(*args)` for the task registered as `name`."""
    current_app.tasks[name].delay(*args)
