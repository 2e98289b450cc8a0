"""Races between workers, and between callers, on PostgreSQL (SQLite serialises writers, so proves nothing)."""

import threading

import pytest
from django.db import connection, connections, transaction

from notifications.models import Message
from notifications.services import message_deliver, message_queue

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 10
TRIALS = 5


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("Concurrency needs PostgreSQL: set DATABASE_URL=postgres://... (SQLite serialises writers).")


def race(target, *args):
    """Run target(*args) in THREADS threads released together; return the errors they raised."""
    barrier = threading.Barrier(THREADS)
    errors = []
    results = []

    def run():
        try:
            barrier.wait(timeout=30)
            results.append(target(*args))
        except Exception as error:  # noqa: BLE001 - collected and asserted by the caller
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def test_workers_racing_for_one_message_send_it_once(make_message, scripted_sms):
    for trial in range(TRIALS):
        message = make_message(body=f"trial {trial}")

        def deliver(message_id=message.pk):
            return message_deliver(message=Message.objects.get(pk=message_id))

        _, errors = race(deliver)
        assert errors == []
        message.refresh_from_db()
        assert message.status == Message.Status.SENT
        assert message.attempts == 1
    assert sorted(body for _, body in scripted_sms.sent) == [f"trial {trial}" for trial in range(TRIALS)]


def test_callers_racing_with_one_dedupe_key_queue_and_send_once(scripted_sms):
    for trial in range(TRIALS):

        def queue(key=f"payment_received:{trial}:sms"):
            with transaction.atomic():
                message = message_queue(
                    channel="sms", recipient="254712345678", body=key, event="payment_received", dedupe_key=key
                )
            return message.pk

        results, errors = race(queue)
        assert errors == []
        assert len(set(results)) == 1
    assert Message.objects.count() == TRIALS
    assert len(scripted_sms.sent) == TRIALS
