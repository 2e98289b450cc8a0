"""Pagination that stays cheap on tables with millions of rows.

Django's Paginator runs `COUNT(*)` over the whole result, which on a big table costs more than the page
itself. Here the count is capped: `SELECT COUNT(*) FROM (... LIMIT cap + 1)` reads at most `cap + 1`
index entries. When the cap is reached, an unfiltered list shows PostgreSQL's own row estimate
(`pg_class.reltuples`, kept by autovacuum) and a filtered one says "more than <cap>".
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

DEFAULT_COUNT_CAP = 10_000
# The page sizes a staff list offers (`?per_page=`); the first is the default.
PAGE_SIZES = (25, 50, 100)
# A text search's count re-reads each matching row to check it, so it stops sooner.
SEARCH_COUNT_CAP = 1_000


def page_size(request) -> int:
    """The `per_page` the request asks for when it is one of PAGE_SIZES, else the default (a web or DRF request)."""
    try:
        size = int(request.GET.get("per_page", PAGE_SIZES[0]))
    except ValueError:
        return PAGE_SIZES[0]
    return size if size in PAGE_SIZES else PAGE_SIZES[0]


def estimated_row_count(model) -> int | None:
    """PostgreSQL's planner estimate of a table's rows, or None where there is none (SQLite, never analysed)."""
    connection = connections[model.objects.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table])
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


class LargeTablePaginator(Paginator):
    def __init__(self, object_list, per_page, *, filtered: bool, count_cap: int = DEFAULT_COUNT_CAP, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self.filtered = filtered
        self.count_cap = count_cap
        self.count_is_estimate = False
        self.count_is_capped = False

    @cached_property
    def count(self):
        capped = self.object_list.order_by()[: self.count_cap + 1].count()
        if capped <= self.count_cap:
            return capped
        if not self.filtered:
            estimate = estimated_row_count(self.object_list.model)
            if estimate is not None and estimate > self.count_cap:
                self.count_is_estimate = True
                return estimate
        # Pages beyond the cap are not offered: narrowing the filters is the way there.
        self.count_is_capped = True
        return self.count_cap

    @property
    def count_label(self) -> str:
        count = self.count
        if self.count_is_estimate:
            return f"about {count:,}"
        if self.count_is_capped:
            return f"more than {count:,}"
        return f"{count:,}"
