from celery import shared_task

from . import services


@shared_task(name="payments.reconcile_pending_payments", ignore_result=True)
def reconcile_pending_payments():
    """Periodic (Celery beat): resolve M-Pesa payments whose callback has not come."""
    return vars(services.reconcile_stale_payments())


@shared_task(name="payments.replay_callback_spool", ignore_result=True)
def replay_callback_spool():
    """Periodic (Celery beat): callbacks kept on disk during a database outage into the database, applied;
    then stored callbacks an outage left unprocessed. Reads the spool of the machine the worker runs on."""
    return services.callback_recover()


# No longer queued: a payment's notifications are written in its own transaction now (the outbox,
# notifications.services). Kept so that tasks already on the broker when this version is deployed still run;
# the dedupe keys make them queue nothing twice.
@shared_task(name="payments.notify_payment_completed", ignore_result=True)
def notify_payment_completed(payment_id: int) -> None:
    services.payment_completed_notify(payment_id)


@shared_task(name="payments.notify_payment_failed", ignore_result=True)
def notify_payment_failed(payment_id: int) -> None:
    services.payment_failed_notify(payment_id)


@shared_task(name="payments.confirm_callback", ignore_result=True)
def confirm_callback(callback_id: int) -> None:
    """Ask Daraja to confirm a success callback before it completes its payment (QUALITY check 24)."""
    services.callback_confirm(callback_id=callback_id)
