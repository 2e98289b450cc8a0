"""One demo member's life as the services would have left it: the application, its decision, the periods,
renewals and payments (failed attempts included), as rows (dicts keyed by attname) ready for bulk writing.

DemoData.member() builds one member; generated_batches() runs it in a thread, batch by batch.
"""

from __future__ import annotations

import base64
import bisect
import datetime
import math
import threading
from dataclasses import dataclass, field
from queue import Empty, Queue
from types import SimpleNamespace

from django.conf import settings
from django.core.management import CommandError
from django.utils import dateformat

from members.models import Member, account_reference_for, phone_hash_of
from members.numbering import WIDTH as NUMBER_WIDTH
from members.search import member_search_text
from payments.models import Payment

from .identifiers import PHONE_SPACE, base36, mpesa_receipt_for, phone_for
from .people import (
    CHRISTIAN_FEMALE,
    CHRISTIAN_MALE,
    COMPANY_KINDS,
    COMPANY_WORDS,
    COUNTIES,
    COUNTY_GROUP,
    EMAIL_DOMAINS,
    EMPLOYERS,
    ESTATES,
    FOREIGN_COUNTRIES,
    FOREIGN_SHARE,
    KENYA_MIX,
    MUSLIM_FEMALE,
    MUSLIM_MALE,
    NAME_GROUPS,
    OCCUPATIONS,
    REJECTION_REASONS,
    SOMALI_FEMALE,
    SOMALI_MALE,
    STREETS,
    SUSPENSION_REASONS,
    UNIVERSITIES,
    URBAN_BOOST,
)

RECEIPT_PREFIX = "RCT"  # payments.services.RECEIPT_PREFIX
RECEIPT_WIDTH = 6  # payments.services.RECEIPT_WIDTH
YEARS = 5  # applications are spread over this many years before today
RENEWAL_WINDOW_DAYS = settings.RENEWAL_WINDOW_DAYS


def period_end(start: datetime.date, months: int) -> datetime.date:
    """members.services.period_end_for without relativedelta (it is called millions of times): the last
    day of `months` calendar months from `start`; when the same day `months` later does not exist the next
    period starts on the 1st of the following month."""
    month0 = start.month - 1 + months
    year, month = start.year + month0 // 12, month0 % 12 + 1
    try:
        next_start = start.replace(year=year, month=month)
    except ValueError:  # 31 Jan + 1 month, 29 Feb + 12 months: the 1st of the month after
        next_start = datetime.date(year + month // 12, month % 12 + 1, 1)
    return next_start - datetime.timedelta(days=1)


def _weights(items, exponent=0.9):
    """Cumulative Zipf-like weights for a list in order of popularity."""
    total, cumulative = 0.0, []
    for rank in range(len(items)):
        total += 1.0 / (rank + 1) ** exponent
        cumulative.append(total)
    return cumulative


class Picker:
    """Weighted choice by bisecting cumulative weights (random.choices rebuilds them on every call)."""

    __slots__ = ("items", "cumulative", "total")

    def __init__(self, items, weights=None, *, zipf=None):
        self.items = tuple(items)
        if zipf is not None:
            self.cumulative = _weights(self.items, zipf)
        else:
            self.cumulative, total = [], 0.0
            for weight in weights:
                total += weight
                self.cumulative.append(total)
        self.total = self.cumulative[-1]

    def __call__(self, rng):
        return self.items[bisect.bisect(self.cumulative, rng.random() * self.total)]


def _below(rng, n: int) -> int:
    """rng.randrange(n) without its argument checks (called millions of times)."""
    return int(rng.random() * n)


def _between(rng, a: int, b: int) -> int:
    return a + int(rng.random() * (b - a))


def _ascii(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


# --- Generation ---------------------------------------------------------------------------------------


@dataclass
class Sequences:
    """Next membership and receipt numbers per year: continue from the counters (and from any number
    already in the table), and are written back to YearlyCounter at the end."""

    prefix: str
    numbers: dict[int, int] = field(default_factory=dict)
    receipts: dict[int, int] = field(default_factory=dict)

    def membership_number(self, year: int) -> str:
        value = self.numbers[year] = self.numbers[year] + 1
        return f"{self.prefix}-{year}-{value:0{NUMBER_WIDTH}d}"

    def receipt_number(self, year: int) -> str:
        value = self.receipts[year] = self.receipts[year] + 1
        return f"{RECEIPT_PREFIX}-{year}-{value:0{RECEIPT_WIDTH}d}"


@dataclass
class Batch:
    users: list = field(default_factory=list)
    members: list = field(default_factory=list)
    payments: list = field(default_factory=list)  # dicts until their ids are known


@dataclass
class Stats:
    members: int = 0
    payments: int = 0
    statuses: dict = field(default_factory=dict)
    payment_statuses: dict = field(default_factory=dict)


FAILURES = (
    # status, result_code, description, source, weight
    (Payment.Status.CANCELLED, "1032", "Request cancelled by user", "callback", 45),
    (Payment.Status.FAILED, "1", "The balance is insufficient for the transaction.", "callback", 25),
    (Payment.Status.FAILED, "2001", "The initiator information is invalid.", "callback", 12),
    (Payment.Status.FAILED, "1037", "DS timeout user cannot be reached", "callback", 6),
    (Payment.Status.TIMEOUT, "", "", "reconciliation", 12),
)


class DemoData:
    """Builds rows (dicts keyed by attname) for users, members and payments, member by member."""

    def __init__(self, *, rng, now, count, categories, regions, countries, password_hash, member_group_id, seq, taken):
        self.rng = rng
        self.taken = taken
        self.tz = now.tzinfo
        self.now = now
        self.today = now.date()
        self.count = count
        self.password_hash = password_hash
        self.member_group_id = member_group_id
        self.seq = seq
        self.horizon = self.today - datetime.timedelta(days=round(365.25 * YEARS))
        self.span_seconds = (now - datetime.datetime.combine(self.horizon, datetime.time(), self.tz)).total_seconds()
        self.growth = math.log(2.0)  # five years ago a day brought half as many applications as today

        # Categories: full and associate are most members; unknown codes get an even share.
        share = {"student": 15, "associate": 30, "full": 42, "corporate": 6, "life": 3}
        self.categories = list(categories)
        self.category = Picker(
            self.categories, [share.get(c.code, 5) * (1 if c.is_active else 0.2) for c in categories]
        )

        self.kenya_regions = {r.code: r for r in regions if r.country_id == "KE"}
        counties = [code for code in COUNTIES if code in self.kenya_regions]
        extra = [code for code in self.kenya_regions if code not in COUNTIES]
        self.county = Picker(
            counties + extra,
            [COUNTIES[c][0] * URBAN_BOOST.get(c, 1.0) for c in counties] + [300] * len(extra),
        )
        self.foreign_regions: dict[str, list] = {}
        for region in regions:
            if region.country_id != "KE":
                self.foreign_regions.setdefault(region.country_id, []).append(region)
        foreign = {code: w for code, w in FOREIGN_COUNTRIES.items() if code in countries}
        self.foreign = Picker(list(foreign), list(foreign.values())) if foreign else None
        self.kenya_mix = Picker(list(KENYA_MIX), list(KENYA_MIX.values()))

        self.surnames = {key: Picker(g.surnames, zipf=1.0) for key, g in NAME_GROUPS.items()}
        self.male_names = {key: Picker(g.male, zipf=0.8) for key, g in NAME_GROUPS.items() if g.male}
        self.female_names = {key: Picker(g.female, zipf=0.8) for key, g in NAME_GROUPS.items() if g.female}
        self.christian = {"male": Picker(CHRISTIAN_MALE, zipf=0.9), "female": Picker(CHRISTIAN_FEMALE, zipf=0.9)}
        self.muslim = {"male": Picker(MUSLIM_MALE, zipf=0.9), "female": Picker(MUSLIM_FEMALE, zipf=0.9)}
        self.somali = {"male": Picker(SOMALI_MALE, zipf=0.9), "female": Picker(SOMALI_FEMALE, zipf=0.9)}
        self.gender = Picker(
            [Member.Gender.FEMALE, Member.Gender.MALE, Member.Gender.UNDISCLOSED, Member.Gender.OTHER],
            [48.5, 50, 1.2, 0.3],
        )
        self.occupation = Picker([o for o, _ in OCCUPATIONS], [w for _, w in OCCUPATIONS])
        self.employer = Picker(EMPLOYERS, zipf=0.5)
        self.university = Picker(UNIVERSITIES, zipf=0.7)
        self.domain = Picker([d for d, _ in EMAIL_DOMAINS], [w for _, w in EMAIL_DOMAINS])
        self.failure = Picker(FAILURES, [f[4] for f in FAILURES])
        self.method = Picker(
            [Payment.Method.MPESA, Payment.Method.BANK, Payment.Method.CHEQUE, Payment.Method.CASH], [86, 6, 4, 4]
        )
        self.banks = ("EQUITY", "KCB", "COOP", "NCBA", "ABSA", "STANBIC", "FAMILY", "DTB", "I&M")

        # Applications in time order, streamed: the i-th smallest of `count` uniforms, via order statistics.
        self._u = 0.0
        self._remaining = count

    # --- time helpers ---

    def _at(self, day: datetime.date, start_hour=7, end_hour=21) -> datetime.datetime:
        seconds = _between(self.rng, start_hour * 3600, end_hour * 3600)
        return datetime.datetime.combine(day, datetime.time(seconds // 3600, seconds // 60 % 60, seconds % 60), self.tz)

    def _next_applied_at(self) -> datetime.datetime:
        rng = self.rng
        self._u += (1.0 - self._u) * (1.0 - rng.random() ** (1.0 / self._remaining))
        self._remaining -= 1
        fraction = math.log1p(self._u * math.expm1(self.growth)) / self.growth
        moment = datetime.datetime.combine(self.horizon, datetime.time(), self.tz) + datetime.timedelta(
            seconds=fraction * self.span_seconds
        )
        applied = self._at(moment.date(), 6, 23)
        if applied > self.now:
            applied = self.now - datetime.timedelta(seconds=_between(rng, 60, 3600))
        return applied

    # --- one member ---

    def member(self, user_id: int, member_id: int, batch: Batch, stats: Stats) -> None:
        rng = self.rng
        applied_at = self._next_applied_at()
        category = self.category(rng)

        # Where they live and what they are called.
        if self.foreign is not None and rng.random() < FOREIGN_SHARE:
            country = self.foreign(rng)
            regions = self.foreign_regions.get(country)
            region = regions[_below(rng, len(regions))] if regions else None
            group_key = country
            county_code = None
        else:
            country = "KE"
            county_code = self.county(rng)
            region = self.kenya_regions[county_code]
            home = COUNTY_GROUP.get(county_code)
            group_key = home if home and rng.random() < 0.7 else self.kenya_mix(rng)
        group = NAME_GROUPS[group_key]
        gender = self.gender(rng)
        sex = gender if gender in ("male", "female") else ("female" if rng.random() < 0.5 else "male")
        traditional = (self.male_names if sex == "male" else self.female_names).get(group_key)
        roll = rng.random()
        if roll < group.muslim_share:
            first = (self.somali if group_key in ("somali", "SO") else self.muslim)[sex](rng)
        elif roll < group.muslim_share + group.christian_share or traditional is None:
            first = self.christian[sex](rng)
        else:
            first = traditional(rng)
        last = self.surnames[group_key](rng)
        other = ""
        roll = rng.random()
        if traditional is not None and roll < 0.55:
            other = traditional(rng)
        elif roll < 0.65:
            other = self.christian[sex](rng)
        if other in (first, last):
            other = ""

        # Contact details: unique by construction from the row ids.
        email = self._email(first, last, user_id)
        phone = self.taken.value("phone", member_id)
        if country == "KE":
            id_type = Member.IdType.NATIONAL_ID if rng.random() < 0.98 else Member.IdType.PASSPORT
        else:
            id_type = Member.IdType.PASSPORT if rng.random() < 0.7 else Member.IdType.ALIEN_ID
        id_number = self.taken.value(id_type, member_id)

        dob = self._date_of_birth(applied_at.date(), category.code)
        occupation, organisation = self._work(category.code, county_code, region)
        town = COUNTIES[county_code][1] if county_code in COUNTIES else (region.name if region else "")
        postal = ""
        if county_code in COUNTIES and rng.random() < 0.7:
            postal = f"P.O. Box {_between(rng, 1, 99999)}-{COUNTIES[county_code][2]}, {town}"
        physical = ""
        if rng.random() < 0.9:
            place = ESTATES[_below(rng, len(ESTATES))] if county_code == "047" else STREETS[_below(rng, 18)]
            physical = f"{place}, {town}" if town else place

        row = {
            "id": member_id,
            "user_id": user_id,
            "category_id": category.pk,
            "other_names": other,
            "id_type": id_type,
            "id_number": id_number,
            "date_of_birth": dob,
            "gender": gender,
            "phone_number": phone,
            "phone_hash": phone_hash_of(phone),
            # One-to-one with the id: a million random codes written at once could repeat one.
            "account_reference": account_reference_for(member_id),
            "postal_address": postal,
            "physical_address": physical,
            "country_id": country,
            "region_id": region.pk if region else None,
            "occupation": occupation,
            "organisation": organisation,
            "applied_at": applied_at,
            "verification_token": self._token(24),
            "notify_by_email": rng.random() < 0.95,
            "notify_by_sms": rng.random() < 0.85,
        }
        payments = self._history(row, category, phone, user_id)
        status = row["status"]
        stats.statuses[status] = stats.statuses.get(status, 0) + 1

        last_login = None
        if status in ("active", "grace", "approved", "pending") and rng.random() < 0.6:
            last_login = max(applied_at, self.now - datetime.timedelta(seconds=_between(rng, 1, 120 * 86400)))
        batch.users.append(
            {
                "id": user_id,
                "password": self.password_hash,
                "last_login": last_login,
                "is_superuser": False,
                "email": email,
                "first_name": first,
                "last_name": last,
                "is_staff": False,
                "is_active": True,
                "date_joined": applied_at,
            }
        )
        row["search_text"] = member_search_text(
            SimpleNamespace(
                user=SimpleNamespace(first_name=first, last_name=last, email=email),
                other_names=other,
                membership_number=row["membership_number"],
                id_number=id_number,
                phone_number=phone,
            )
        )
        batch.members.append(row)
        batch.payments.extend(payments)
        stats.members += 1
        for payment in payments:
            stats.payment_statuses[payment["status"]] = stats.payment_statuses.get(payment["status"], 0) + 1
        stats.payments += len(payments)

    def _email(self, first, last, user_id):
        rng = self.rng
        first, last = _ascii(first), _ascii(last)
        style = _below(rng, 6)
        if style == 0:
            local = f"{first}.{last}"
        elif style == 1:
            local = f"{first}{last}"
        elif style == 2:
            local = f"{first[0]}{last}"
        elif style == 3:
            local = f"{last}.{first}"
        elif style == 4:
            local = f"{first}_{last}"
        else:
            local = f"{first}.{last[0]}"
        return f"{local}{user_id}@{self.domain(rng)}"

    def _token(self, size):
        return base64.urlsafe_b64encode(self.rng.randbytes(size)).rstrip(b"=").decode()

    def _date_of_birth(self, applied: datetime.date, category_code: str) -> datetime.date:
        rng = self.rng
        if category_code == "student":
            age = 18 + int(12 * rng.random() ** 2)
        else:
            age = 22 + int(43 * rng.betavariate(2.2, 3.5))
        years_ago = (self.today - applied).days / 365.25
        age = max(18, min(age, int(74 - years_ago)))  # 18 or more when applying, 75 at most today
        return applied - datetime.timedelta(days=int(age * 365.25) + _between(rng, 1, 360))

    def _work(self, category_code, county_code, region):
        rng = self.rng
        if category_code == "student":
            return "Student", self.university(rng)
        if category_code == "corporate":
            name = f"{COMPANY_WORDS[_below(rng, len(COMPANY_WORDS))]} {COMPANY_KINDS[_below(rng, 10)]}"
            return "Company secretary" if rng.random() < 0.3 else "Director", name
        occupation = self.occupation(rng)
        roll = rng.random()
        if roll < 0.15 and county_code in COUNTIES and region is not None:
            organisation = f"County Government of {region.name}"
        elif roll < 0.85:
            organisation = self.employer(rng)
        else:
            organisation = ""
        return occupation, organisation

    # --- the membership's history ---

    def _history(self, row, category, phone, user_id) -> list[dict]:
        """Decide the application, the fee, every renewal and today's status; return the payments."""
        rng, now, today = self.rng, self.now, self.today
        applied_at = row["applied_at"]
        payments: list[dict] = []
        row.update(
            status=Member.Status.PENDING,
            status_reason="",
            status_changed_at=applied_at,
            membership_number=None,
            approved_at=None,
            activated_at=None,
            registration_paid_at=None,
            registration_payment_reference="",
            period_start=None,
            period_end=None,
            updated_at=applied_at,
        )
        pay = _PaymentMaker(self, row["id"], phone, user_id, payments)

        # The fee: most pay with the application, some after approval, a few never.
        roll = rng.random()
        if roll < 0.62:
            paid_at = applied_at + datetime.timedelta(seconds=_between(rng, 30, 1800))
        elif roll < 0.98:
            paid_at = None  # after the approval, below
        else:
            paid_at = False  # never
        decided_at = applied_at + datetime.timedelta(days=1 + 90 * rng.random() ** 1.6, seconds=_below(rng, 3600))
        decided_at = decided_at.replace(hour=_between(rng, 8, 17))
        if decided_at <= applied_at:
            decided_at = applied_at + datetime.timedelta(hours=2)
        rejected = rng.random() < 0.04

        if decided_at > now:  # still waiting for review
            if paid_at and paid_at <= now:
                self._register(row, pay, category, paid_at)
            elif rng.random() < 0.15:
                pay.attempt_fails(Payment.Type.REGISTRATION, category.registration_fee, applied_at)
            return payments
        if rejected:
            if paid_at and paid_at <= decided_at:
                self._register(row, pay, category, paid_at)
            row.update(
                status=Member.Status.REJECTED,
                status_reason=REJECTION_REASONS[_below(rng, len(REJECTION_REASONS))],
                status_changed_at=decided_at,
                updated_at=decided_at,
            )
            return payments

        # Approved: the number is issued in the year of approval.
        row.update(
            status=Member.Status.APPROVED,
            approved_at=decided_at,
            membership_number=self.seq.membership_number(decided_at.year),
            status_changed_at=decided_at,
            updated_at=decided_at,
        )
        if paid_at is None:
            lag = datetime.timedelta(days=60 * rng.random() ** 3, seconds=_between(rng, 60, 36000))
            paid_at = decided_at + lag
        if not paid_at or paid_at > now:
            roll = rng.random()
            if roll < 0.3:
                pay.attempt_fails(Payment.Type.REGISTRATION, category.registration_fee, decided_at)
            elif roll < 0.36:
                pay.pending(Payment.Type.REGISTRATION, category.registration_fee)
            return payments
        self._register(row, pay, category, paid_at)

        # Active from the later of approval and payment.
        activated_at = max(decided_at, paid_at)
        start = activated_at.date()
        row.update(
            status=Member.Status.ACTIVE,
            status_reason="Approved and registration fee received.",
            status_changed_at=activated_at,
            activated_at=activated_at,
            period_start=start,
            updated_at=activated_at,
        )
        suspend_at = None
        if rng.random() < 0.012:
            suspend_at = activated_at + (now - activated_at) * rng.random()
        months, grace = category.period_months, category.grace_days
        if not months:  # never expires: nothing to renew
            return self._maybe_suspend(row, suspend_at, payments)

        end = period_end(start, months)
        while True:
            roll = rng.random()
            if roll < 0.85:  # on time, in the renewal window: the period is extended, its start kept
                paid_on = end - datetime.timedelta(days=int(RENEWAL_WINDOW_DAYS * rng.random() ** 1.5))
                paid_on = max(paid_on, start)
                paid = self._at(paid_on)
                if paid > now or (suspend_at and paid > suspend_at):
                    break
                pay.completed(Payment.Type.RENEWAL, category.renewal_fee, paid)
                end = period_end(end + datetime.timedelta(days=1), months)
                row["updated_at"] = paid
            elif roll < 0.93:  # late: in grace (renewal fee) or after it (plus the late fee); a new period
                if roll < 0.89 and grace:
                    paid_on = end + datetime.timedelta(days=_between(rng, 1, grace + 1))
                    kind, amount = Payment.Type.RENEWAL, category.renewal_fee
                else:
                    paid_on = end + datetime.timedelta(days=grace + 1 + int(400 * rng.random() ** 2))
                    kind, amount = Payment.Type.LATE_PAYMENT, category.renewal_fee + category.late_fee
                paid = self._at(paid_on)
                if paid > now or (suspend_at and paid > suspend_at):
                    break
                pay.completed(kind, amount, paid)
                start, end = paid_on, period_end(paid_on, months)
                row.update(period_start=start, status_reason="Renewed.", status_changed_at=paid, updated_at=paid)
            else:  # stops renewing; some try once and fail
                if rng.random() < 0.15:
                    tried = self._at(end + datetime.timedelta(days=_between(rng, -20, 40)))
                    if tried <= now:
                        pay.attempt_fails(Payment.Type.RENEWAL, category.renewal_fee, tried, alone=True)
                break
        row["period_end"] = end
        if suspend_at is None and end < today:
            # What the daily job (members.lifecycle) did on the day after the end, and after the grace.
            grace_ends = end + datetime.timedelta(days=grace)
            if today <= grace_ends:
                row["status"] = Member.Status.GRACE
                row["status_reason"] = (
                    f"The membership period ended on {_day(end)}; the grace period runs until {_day(grace_ends)}."
                )
                changed = end + datetime.timedelta(days=1)
            else:
                row["status"] = Member.Status.EXPIRED
                if grace_ends > end:
                    row["status_reason"] = f"The grace period ended on {_day(grace_ends)}."
                else:
                    row["status_reason"] = f"The membership period ended on {_day(end)}."
                changed = grace_ends + datetime.timedelta(days=1)
            changed_at = datetime.datetime.combine(changed, datetime.time(6, 0, _below(rng, 60)), self.tz)
            row["status_changed_at"] = row["updated_at"] = max(changed_at, row["updated_at"])
        return self._maybe_suspend(row, suspend_at, payments)

    def _maybe_suspend(self, row, suspend_at, payments):
        if suspend_at is not None:
            row.update(
                status=Member.Status.SUSPENDED,
                status_reason=SUSPENSION_REASONS[_below(self.rng, len(SUSPENSION_REASONS))],
                status_changed_at=suspend_at,
                updated_at=max(suspend_at, row["updated_at"]),
            )
        return payments

    def _register(self, row, pay, category, paid_at):
        payment = pay.completed(Payment.Type.REGISTRATION, category.registration_fee, paid_at)
        # payment_complete replaces the payment reference with the receipt number.
        row["registration_paid_at"] = payment["completed_at"]
        row["registration_payment_reference"] = payment["receipt_number"]


def _day(day: datetime.date) -> str:
    return dateformat.format(day, "j F Y")


class _PaymentMaker:
    """Payment rows for one member, in the shapes the payment services leave behind."""

    def __init__(self, data: DemoData, member_id, phone, user_id, out):
        self.data, self.member_id, self.phone, self.user_id, self.out = data, member_id, phone, user_id, out

    def _base(self, kind, amount, created_at, method=Payment.Method.MPESA):
        rng = self.data.rng
        mpesa = method == Payment.Method.MPESA
        return {
            "reference": self.data._token(12),
            "member_id": self.member_id,
            "payment_type": kind,
            "method": method,
            "amount": amount,
            "phone_number": (self.phone if rng.random() < 0.92 else phone_for(_below(rng, PHONE_SPACE)))
            if mpesa
            else "",
            "merchant_request_id": f"{_between(rng, 10000, 99999)}-{_between(rng, 10**7, 10**8)}-1" if mpesa else "",
            "checkout_request_id": None,  # needs the id: filled in by finish_payment
            "mpesa_receipt_number": None,
            "result_code": "",
            "result_description": "",
            "result_source": "",
            "callback_token": self.data._token(24),
            "external_reference": "",
            "receipt_number": None,
            "initiated_by_id": self.user_id if mpesa else None,
            "created_at": created_at,
            "updated_at": created_at,
            "sent_at": created_at + datetime.timedelta(seconds=1 + rng.random() * 2) if mpesa else None,
            "completed_at": None,
            "last_checked_at": None,
            "check_count": 0,
        }

    def completed(self, kind, amount, at):
        """A completed payment whose money arrived at `at`; sometimes after a failed attempt."""
        rng, seq = self.data.rng, self.data.seq
        method = self.data.method(rng)
        if method == Payment.Method.MPESA:
            roll = rng.random()
            if roll < 0.27:  # STK pushes often fail first: cancelled, no balance, wrong PIN, no answer
                self.attempt_fails(kind, amount, at - datetime.timedelta(minutes=2 + 40 * rng.random()))
                if roll < 0.07:
                    self.attempt_fails(kind, amount, at - datetime.timedelta(minutes=45 + 600 * rng.random()))
            created = at - datetime.timedelta(seconds=10 + rng.random() * 50)
            payment = self._base(kind, amount, created)
            payment.update(
                status=Payment.Status.COMPLETED,
                result_code="0",
                result_description="The service request is processed successfully.",
                result_source="callback" if rng.random() < 0.96 else "query",
                completed_at=at,
                updated_at=at,
            )
        else:
            # payment_record_offline: completed at the start of the day received, recorded a little later.
            completed_at = datetime.datetime.combine(at.date(), datetime.time(), self.data.tz)
            created = min(completed_at + datetime.timedelta(hours=8 + rng.random() * 60), self.data.now)
            payment = self._base(kind, amount, created, method)
            label = Payment.Method(method).label
            payment.update(
                status=Payment.Status.COMPLETED,
                result_source="offline",
                completed_at=completed_at,
                updated_at=created,
                external_reference=(method, at.date()),  # made unique by finish_payment
                result_description=(label, at.date()),
            )
        payment["receipt_number"] = seq.receipt_number(payment["completed_at"].year)
        self.out.append(payment)
        return payment

    def attempt_fails(self, kind, amount, at, alone=False):
        rng = self.data.rng
        status, code, description, source, _ = self.data.failure(rng)
        payment = self._base(kind, amount, at)
        end = at + datetime.timedelta(seconds=15 + rng.random() * 45)
        if status == Payment.Status.TIMEOUT:
            end = at + datetime.timedelta(seconds=900 + rng.random() * 120)
            payment.update(last_checked_at=end, check_count=_between(rng, 1, 4))
            if end > self.data.now:
                return None  # too recent to have timed out
        payment.update(status=status, result_code=code, result_description=description, result_source=source)
        payment["updated_at"] = end
        self.out.append(payment)
        return payment

    def pending(self, kind, amount):
        rng = self.data.rng
        payment = self._base(kind, amount, self.data.now - datetime.timedelta(seconds=5 + rng.random() * 80))
        payment.update(status=Payment.Status.PENDING)
        self.out.append(payment)
        return payment


def first_free(candidates, exists):
    for value in candidates:
        if not exists(value):
            return value
    raise CommandError("No free value found for a generated member; try another --seed.")


def finish_payment(payment: dict, payment_id: int, banks) -> None:
    """Fill what needs the payment's id: Daraja's CheckoutRequestID, the M-Pesa receipt, offline references."""
    payment["id"] = payment_id
    if payment["method"] == Payment.Method.MPESA:
        created = payment["created_at"]
        payment["checkout_request_id"] = f"ws_CO_{created:%d%m%Y%H%M%S}{payment_id:012d}"
        if payment["status"] == Payment.Status.COMPLETED:
            payment["mpesa_receipt_number"] = mpesa_receipt_for(payment_id, payment["completed_at"].date())
        return
    method, day = payment["external_reference"]
    label, _ = payment["result_description"]
    if method == Payment.Method.CASH:
        reference = f"CR {payment_id:08d}"
    elif method == Payment.Method.CHEQUE:
        reference = f"{banks[payment_id % len(banks)]} CHQ {payment_id:08d}"
    else:
        reference = f"FT{day:%y}{day.timetuple().tm_yday:03d}{base36(payment_id, 6)}"
    payment["external_reference"] = reference
    payment["result_description"] = f"{label} {reference}, received {day:%d %b %Y}"


def generated_batches(data: DemoData, count, batch_size, first_user, first_member, stats):
    """Yield batches of generated rows. A thread generates the next batch while the caller writes this one,
    so Python and the database work at the same time (the thread touches no database)."""
    queue: Queue = Queue(maxsize=2)
    stop = threading.Event()

    def produce():
        try:
            done = 0
            while done < count and not stop.is_set():
                batch = Batch()
                for i in range(done, min(done + batch_size, count)):
                    data.member(first_user + i, first_member + i, batch, stats)
                done += len(batch.members)
                queue.put(batch)
            queue.put(None)
        except BaseException as error:  # handed to the consumer, which raises it
            queue.put(error)

    thread = threading.Thread(target=produce, name="generate_demo_data", daemon=True)
    thread.start()
    try:
        while True:
            item = queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                queue.get(timeout=0.1)
            except Empty:
                pass
        thread.join()
