"""The compare-and-set helper and its tables, on a plain record with a status (an outbound message)."""

import pytest
from django.db.models import F, Q

from core.transitions import TransitionTable, transition
from notifications.models import Message

pytestmark = pytest.mark.django_db

Status = Message.Status
TABLE = TransitionTable(
    {
        Status.QUEUED: {Status.SENDING},
        Status.SENDING: {Status.QUEUED},
        Status.SENT: {Status.SENDING},
        Status.FAILED: {Status.QUEUED, Status.SENDING},
    },
    guards={(Status.QUEUED, Status.FAILED): Q(attempts__gte=3)},
)


def message(status=Status.QUEUED, **fields):
    return Message.objects.create(
        channel="email", event="test", recipient="a@example.com", body=".", status=status, **fields
    )


def status_of(row):
    return Message.objects.values_list("status", flat=True).get(pk=row.pk)


def test_it_changes_a_row_in_an_allowed_status_with_its_other_fields():
    row = message()
    assert transition(Message, row.pk, allowed_from={Status.QUEUED}, to=Status.SENDING, attempts=F("attempts") + 1)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENDING, 1)


def test_it_refuses_a_row_in_any_other_status_and_changes_nothing():
    row = message(Status.SENT)
    assert not transition(Message.objects, row.pk, allowed_from={Status.QUEUED}, to=Status.SENDING, attempts=9)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENT, 0)


def test_the_second_of_two_identical_changes_loses():
    row = message()
    assert transition(Message, row.pk, allowed_from={Status.QUEUED}, to=Status.SENDING)
    assert not transition(Message, row.pk, allowed_from={Status.QUEUED}, to=Status.SENDING)


def test_a_queryset_narrows_the_change_and_can_name_the_row_itself():
    row = message(Status.SENDING, attempts=1)
    assert not transition(Message.objects.filter(attempts__gte=2), row.pk, allowed_from={Status.SENDING}, to="failed")
    assert transition(Message.objects.filter(pk=row.pk), allowed_from={Status.SENDING}, to=Status.FAILED)
    assert status_of(row) == Status.FAILED


def test_it_is_never_a_success_when_more_than_one_row_changed():
    message(), message()
    assert not transition(Message.objects.all(), allowed_from={Status.QUEUED}, to=Status.SENDING)


def test_it_takes_a_model_a_manager_or_a_queryset_and_nothing_else():
    row = message()
    with pytest.raises(TypeError):
        transition([row], row.pk, allowed_from={Status.QUEUED}, to=Status.SENDING)


def test_a_table_lists_its_pairs_and_statuses():
    assert set(TABLE.pairs()) == {
        (Status.SENDING, Status.QUEUED),
        (Status.QUEUED, Status.SENDING),
        (Status.SENDING, Status.SENT),
        (Status.QUEUED, Status.FAILED),
        (Status.SENDING, Status.FAILED),
    }
    assert TABLE.statuses == set(Status.values)
    assert TABLE.allows(Status.SENDING, Status.SENT) and not TABLE.allows(Status.SENT, Status.SENDING)
    with pytest.raises(ValueError):
        TABLE.allowed_from("archived")


@pytest.mark.parametrize(
    ("start", "to"),
    [(start, to) for start in Status.values for to in Status.values if (start, to) != ("queued", "failed")],
)
def test_a_table_applies_exactly_its_unguarded_pairs(start, to):
    row = message(start)
    assert TABLE.apply(Message, row.pk, to=to) is TABLE.allows(start, to)
    assert status_of(row) == (to if TABLE.allows(start, to) else start)


def test_a_guarded_pair_needs_its_condition():
    tried_once, tried_three_times = message(attempts=1), message(attempts=3)
    assert not TABLE.apply(Message, tried_once.pk, to=Status.FAILED)
    assert TABLE.apply(Message, tried_three_times.pk, to=Status.FAILED)
    assert (status_of(tried_once), status_of(tried_three_times)) == (Status.QUEUED, Status.FAILED)


def test_a_guard_on_a_pair_the_table_does_not_allow_is_a_mistake():
    with pytest.raises(ValueError):
        TransitionTable({Status.SENT: {Status.SENDING}}, guards={(Status.QUEUED, Status.SENT): Q(attempts=1)})
