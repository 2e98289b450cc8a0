"""Status changes as compare-and-set updates, and the tables that say which changes are allowed.

A status change is one conditional UPDATE: ``filter(pk=..., status__in=allowed_from).update(status=to, ...)``.
It acts only when exactly one row changed, so of two requests, workers or callbacks racing to change the
same row, one wins and the other learns it lost (False) without having read a stale status first. The
caller does what follows a change (audit entry, notification) only when it won.

    from core.transitions import TransitionTable, transition

    ERASURE_TRANSITIONS = TransitionTable({PENDING: set(), APPROVED: {PENDING}, REFUSED: {PENDING}, ...})
    if ERASURE_TRANSITIONS.apply(ErasureRequest, erasure.pk, to=REFUSED, decided_by=actor):
        audit_log(...)

    # or, without a table, for a one-off change:
    transition(ErasureRequest, erasure.pk, allowed_from={PENDING}, to=REFUSED)

`rows` is a model or a queryset; a queryset narrows the change further (``is_current=True``, a time
condition), and with ``pk=None`` it must itself pick out at most one row.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from django.db import models
from django.db.models import Q


def _queryset(rows) -> models.QuerySet:
    if isinstance(rows, models.QuerySet):
        return rows
    if isinstance(rows, type) and issubclass(rows, models.Model):
        return rows._default_manager.all()
    if isinstance(rows, models.Manager):
        return rows.all()
    raise TypeError(f"Expected a model, manager or queryset, not {rows!r}.")


def transition(
    rows,
    pk=None,
    *,
    allowed_from: Iterable[str] | Q,
    to: str,
    field: str = "status",
    **fields,
) -> bool:
    """Set `field` to `to` (and `fields`) on the row `pk` of `rows` if its `field` is in `allowed_from`.

    `allowed_from` is the set of statuses the row may be in, or a Q when some of them come with a further
    condition. True only when exactly one row changed; False when none did (or, for a badly narrowed
    queryset, more than one did: never treat that as a success).
    """
    queryset = _queryset(rows)
    if pk is not None:
        queryset = queryset.filter(pk=pk)
    condition = allowed_from if isinstance(allowed_from, Q) else Q(**{f"{field}__in": list(allowed_from)})
    return queryset.filter(condition).update(**{field: to}, **fields) == 1


class TransitionTable:
    """Which status may become which: ``{to: statuses it may be entered from}``.

    `guards` adds a condition to single (from, to) pairs, e.g. a payment may become completed from
    failed only when the failure came from a status query: ``{(FAILED, COMPLETED): Q(result_source="query")}``.
    Every status a record can have should be a key, with an empty set when nothing leads to it.
    """

    def __init__(
        self,
        table: Mapping[str, Iterable[str]],
        *,
        guards: Mapping[tuple[str, str], Q] | None = None,
        field: str = "status",
    ):
        self.table: dict[str, frozenset[str]] = {str(to): frozenset(map(str, froms)) for to, froms in table.items()}
        self.guards: dict[tuple[str, str], Q] = {(str(a), str(b)): q for (a, b), q in (guards or {}).items()}
        self.field = field
        for source, target in self.guards:
            if source not in self.table.get(target, ()):
                raise ValueError(f"Guard on {source} -> {target}, which the table does not allow.")

    @property
    def statuses(self) -> frozenset[str]:
        return frozenset(self.table).union(*self.table.values())

    def allowed_from(self, to: str) -> frozenset[str]:
        """The statuses `to` may be entered from (guarded ones included)."""
        if to not in self.table:
            raise ValueError(f"{to!r} is not a status of this table.")
        return self.table[to]

    def allows(self, source: str, to: str) -> bool:
        """Whether the table lists the change at all (a guarded change still needs its condition)."""
        return source in self.table.get(to, ())

    def pairs(self) -> Iterator[tuple[str, str]]:
        """Every allowed (from, to) pair."""
        for to, froms in self.table.items():
            for source in sorted(froms):
                yield source, to

    def condition(self, to: str) -> Q:
        """The WHERE condition a row must meet to become `to`: its status, and each guard."""
        free = sorted(s for s in self.allowed_from(to) if (s, to) not in self.guards)
        condition = Q(**{f"{self.field}__in": free})
        for (source, target), guard in self.guards.items():
            if target == to:
                condition |= Q(**{self.field: source}) & guard
        return condition

    def apply(self, rows, pk=None, *, to: str, **fields) -> bool:
        """Compare-and-set `rows`' row `pk` to `to`, as the table allows; True when one row changed."""
        return transition(rows, pk, allowed_from=self.condition(to), to=to, field=self.field, **fields)
