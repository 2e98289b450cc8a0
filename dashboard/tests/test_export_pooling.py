"""The CSV export is safe behind PgBouncer in transaction pooling mode (DISABLE_SERVER_SIDE_CURSORS=True).

Its server-side cursor is declared inside the export's own transaction, WITHOUT HOLD: it cannot outlive that
transaction, so PgBouncer (which may give the server connection to another client once a transaction ends)
never sees a cursor left open between transactions. This is the option Django's documentation gives for
server-side cursors under transaction pooling; the CSV keeps its flat memory.
"""

import pytest
from django.db import connection

from dashboard import exports
from members.filters import member_list_queryset
from tests.factories import MemberFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("Server-side cursors and PgBouncer are PostgreSQL's: set DATABASE_URL=postgres://...")


def _open_cursors():
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, is_holdable FROM pg_cursors")
        return cursor.fetchall()


@pytest.fixture
def pooled(monkeypatch):
    """This connection's settings as behind PgBouncer's transaction pooling."""
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)


def test_the_export_cursor_lives_only_inside_its_transaction(reference_data, pooled):
    MemberFactory.create_batch(5, documents=[])
    assert connection.get_autocommit()
    rows = exports.member_export_rows(member_list_queryset(), chunk_size=2)
    first = next(rows)
    assert first
    # While the export reads: one cursor, not holdable, in a transaction.
    assert connection.in_atomic_block
    cursors = _open_cursors()
    assert len(cursors) == 1
    assert cursors[0][1] is False
    assert 1 + sum(1 for _ in rows) == 5
    # Afterwards: back in autocommit with no cursor left for the next client of the pooled connection.
    assert not connection.in_atomic_block
    assert _open_cursors() == []


def test_stopping_early_under_pooling_leaves_no_cursor(reference_data, pooled):
    MemberFactory.create_batch(3, documents=[])
    rows = exports.member_export_rows(member_list_queryset(), chunk_size=1)
    next(rows)
    rows.close()  # a client that goes away mid-download
    assert not connection.in_atomic_block
    assert _open_cursors() == []
