"""The base of the staff lists' filter sets (members, payments, audit trail)."""

import django_filters


class StaffListFilterSet(django_filters.FilterSet):
    @property
    def is_filtered(self) -> bool:
        """True when any filter (not the sort order) narrows the list: what LargeTablePaginator needs to
        know to choose between the table's row estimate and a capped count."""
        if not self.is_bound or not self.form.is_valid():
            return False
        return any(
            value not in (None, "", [], ()) and value != slice(None, None)
            for key, value in self.form.cleaned_data.items()
            if key != "ordering"
        )
