from django.db import models


class YearlyCounter(models.Model):
    """One row per (prefix, year) for gapless human-facing numbers: membership and receipt numbers.

    See core.sequences.next_value: the row is locked and incremented in the transaction that uses
    the number, so a rollback gives the number back and numbers never repeat or skip.
    """

    prefix = models.CharField(max_length=10)
    year = models.PositiveSmallIntegerField()
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prefix", "year"], name="core_counter_unique_prefix_year")]

    def __str__(self):
        return f"{self.prefix}-{self.year}: {self.last_value}"
