"""Which member a Paybill payment is for: the account the payer typed (BillRefNumber) and the payer's MSISDN.

The C2B intake (payments) calls `account_match()` for every confirmation and `account_exists()` for the
optional validation request. Both read the member table only, through indexes:

- a membership number, with or without the prefix and leading zeros (`kts 2026 42`, `KTS-2026-0042`,
  `2026/0042`): rebuilt in its stored form `<PREFIX>-<YEAR>-<NNNN>` and looked up on the unique
  `membership_number` index. The year is required: `42` alone is number 42 of which year? Every year has
  one, so a year-less number matches nothing (the payment goes to the suspense queue, not to a guess).
  A prefix typed other than MEMBERSHIP_NUMBER_PREFIX is kept as typed (numbers issued under an earlier
  prefix still match with it); no prefix means the current one.
- the member's account reference (`Member.account_reference`, e.g. `K7Q3M9TX`): every member has one from
  registration, so an applicant, who has no membership number yet, can pay the registration fee by Paybill.
- a national ID (or passport) number, on the (id_type, id_number) unique index.
- a phone number typed as the account, in any Kenyan form (0712 345 678, +254712345678, 712345678...).
- the payer's MSISDN as C2B v1 sends it, SHA-256 hex of 2547XXXXXXXX, against `Member.phone_hash`
  (a clear MSISDN is hashed first). Used when the typed account matches nobody: the account the payer
  typed says who the money is for (someone may pay for a colleague), the phone only who paid.

A masked MSISDN (C2B v2, `2547 ***** 126`) and the payer's names never match alone: they only break a tie
between members the rules above found. One member left is a match; several are `ambiguous` (with the
candidates); none is `none`. Every result carries the rule and a sentence for Finance saying why.

Rejected applicants still match (their money goes to a refund, not to the suspense queue); erased members
never do (privacy.erasure overwrites the ID number with ERASED_ID_PREFIX and blanks the phone and its hash).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from core.phones import normalise_phone

from .models import ERASED_ID_PREFIX, Member, phone_hash_of
from .numbering import format_membership_number

# After normalising: letters (the prefix, or none), a year 1900-2099, then the number (leading zeros allowed).
_MEMBERSHIP_NUMBER = re.compile(r"^(?P<prefix>[A-Z]*)(?P<year>(?:19|20)\d\d)(?P<number>\d{1,9})$")
_MSISDN_HASH = re.compile(r"^[0-9a-f]{64}$")
_NAME_TOKEN = re.compile(r"[^\W\d_]+")
# The longest thing any rule compares (a membership number is at most 32 characters).
MAX_ACCOUNT_LENGTH = 40


class MatchRule(models.TextChoices):
    """Why a payment was (not) given to a member. Stored by the intake beside each decision."""

    MEMBERSHIP_NUMBER = "membership_number", "Membership number"
    ACCOUNT_REFERENCE = "account_reference", "Member's account reference"
    NATIONAL_ID = "national_id", "ID or passport number"
    PHONE_TYPED = "phone_typed", "Phone number typed as the account"
    MSISDN_HASH = "msisdn_hash", "Payer's phone (hashed by M-Pesa)"
    NONE = "none", "No member matched"
    AMBIGUOUS = "ambiguous", "Several members matched"


# The account rules in the order their names appear in a reason (strongest first).
ACCOUNT_RULES = (
    MatchRule.MEMBERSHIP_NUMBER,
    MatchRule.ACCOUNT_REFERENCE,
    MatchRule.NATIONAL_ID,
    MatchRule.PHONE_TYPED,
)


@dataclass(frozen=True)
class AccountMatch:
    member: Member | None
    rule: MatchRule
    candidates: tuple[int, ...] = field(default=())  # member ids, when ambiguous
    reason: str = ""

    @property
    def matched(self) -> bool:
        return self.member is not None


def normalise_account(text: str) -> str:
    """What the payer typed, comparable: Unicode look-alikes folded (NFKC: fullwidth digits, ligatures),
    upper case, and only the letters A-Z and digits kept, so spaces and separators (- / . _ , # and dashes of
    every kind) vanish: `kts 2026 42`, `KTS-2026-0042` and `kts2026 0042` all become `KTS2026...`."""
    folded = unicodedata.normalize("NFKC", str(text or "")).upper()
    return "".join(ch for ch in folded if ("A" <= ch <= "Z") or ("0" <= ch <= "9"))


def membership_number_forms(normalised: str) -> list[str]:
    """The stored membership numbers a normalised account could be: `KTS2026042` -> [`KTS-2026-0042`];
    `20260042` -> [`<PREFIX>-2026-0042`]; `42` -> [] (no year)."""
    found = _MEMBERSHIP_NUMBER.match(normalised)
    if not found:
        return []
    prefix = found["prefix"] or settings.MEMBERSHIP_NUMBER_PREFIX.upper()
    number = int(found["number"])
    if number == 0:
        return []
    return [format_membership_number(prefix, int(found["year"]), number)]


def typed_phone(normalised: str) -> str:
    """The phone number an account is, as stored (254712345678), or "" when it is not one."""
    if not normalised.isdigit() or not 9 <= len(normalised) <= 13:
        return ""
    try:
        return normalise_phone(normalised)
    except ValidationError:
        return ""


def msisdn_hash(msisdn: str) -> str:
    """The SHA-256 hex a C2B v1 MSISDN is (or a clear MSISDN would be), or "" when it is neither (v2's mask)."""
    value = (msisdn or "").strip().lower()
    if _MSISDN_HASH.match(value):
        return value
    if "*" in value:
        return ""
    return phone_hash_of(typed_phone(normalise_account(value)))


def _account_condition(normalised: str) -> Q | None:
    """The OR of every account rule's indexed equality for one normalised account; None when nothing can match."""
    if not normalised or len(normalised) > MAX_ACCOUNT_LENGTH:
        return None
    condition = Q(account_reference=normalised)
    forms = membership_number_forms(normalised)
    if forms:
        condition |= Q(membership_number__in=forms)
    # id_type__in lets the (id_type, id_number) unique index serve the lookup (as members.search does).
    condition |= Q(id_type__in=Member.IdType.values, id_number=normalised)
    phone = typed_phone(normalised)
    if phone:
        condition |= Q(phone_number=phone)
    return condition


def _matchable():
    return Member.objects.exclude(id_number__startswith=ERASED_ID_PREFIX)


def account_lookup(bill_ref: str, *, msisdn: str = ""):
    """The members an account (or, when given, the payer's hashed MSISDN) names, as one query whose every OR
    branch is an index lookup (members/tests/test_account_match.py checks the plan); None when nothing can."""
    condition = _account_condition(normalise_account(bill_ref))
    hashed = msisdn_hash(msisdn)
    if hashed:
        condition = Q(phone_hash=hashed) if condition is None else condition | Q(phone_hash=hashed)
    # No ordering: the default (-applied_at) would walk that index under a LIMIT instead of these.
    return None if condition is None else _matchable().filter(condition).order_by()


def account_exists(bill_ref: str, *, msisdn: str = "") -> bool:
    """For C2B validation: does the account typed (or, when given, the payer's hashed MSISDN) name any member?"""
    lookup = account_lookup(bill_ref, msisdn=msisdn)
    return lookup is not None and lookup.exists()


def _rules_for(member: Member, normalised: str, forms: list[str], phone: str) -> list[MatchRule]:
    rules = []
    if member.membership_number and member.membership_number in forms:
        rules.append(MatchRule.MEMBERSHIP_NUMBER)
    if member.account_reference == normalised:
        rules.append(MatchRule.ACCOUNT_REFERENCE)
    if member.id_number == normalised:
        rules.append(MatchRule.NATIONAL_ID)
    if phone and member.phone_number == phone:
        rules.append(MatchRule.PHONE_TYPED)
    return rules


def _describe(member: Member) -> str:
    return f"{member.full_name} ({member.membership_number or f'applicant {member.account_reference}'})"


def _rule_words(rules: list[MatchRule]) -> str:
    return " and ".join(str(rule.label).lower() for rule in rules)


def _masked_fits(masked: str, phone: str) -> bool:
    """Does a masked MSISDN (`2547 ***** 126`) show what this phone would show?"""
    shown = "".join(ch for ch in masked if ch.isdigit() or ch == "*")
    if "*" not in shown or not phone:
        return False
    head, _, tail = shown.partition("*")
    tail = tail.lstrip("*")
    if len(shown) == len(phone):
        return all(s == "*" or s == p for s, p in zip(shown, phone, strict=True))
    return phone.startswith(head) and phone.endswith(tail)


def _name_tokens(*names: str) -> set[str]:
    return {token for name in names for token in _NAME_TOKEN.findall(unicodedata.normalize("NFKC", name or "").lower())}


def _break_tie(members: list[Member], *, hashed: str, masked: str, payer_names: set[str]) -> tuple[list[Member], str]:
    """Narrow several candidates with what the confirmation says of the payer; say what narrowed them."""
    if hashed:
        same_phone = [m for m in members if m.phone_hash == hashed]
        if same_phone:
            members = same_phone
            if len(members) == 1:
                return members, "the payer's phone (hashed) is this member's"
    if masked:
        fitting = [m for m in members if _masked_fits(masked, m.phone_number)]
        if fitting:
            members = fitting
            if len(members) == 1:
                return members, f"the payer's masked phone {masked.strip()} fits only this member's"
    if payer_names:
        scores = {
            m.pk: len(payer_names & _name_tokens(m.user.first_name, m.other_names, m.user.last_name)) for m in members
        }
        best = max(scores.values())
        if best:
            members = [m for m in members if scores[m.pk] == best]
            if len(members) == 1:
                return members, "the payer's names fit only this member's"
    return members, ""


def account_match(
    *, bill_ref: str, msisdn: str = "", first_name: str = "", middle_name: str = "", last_name: str = ""
) -> AccountMatch:
    """The member a C2B payment is for, with the rule that decided and why (see the module's docstring)."""
    typed = (bill_ref or "").strip()
    normalised = normalise_account(typed)
    hashed = msisdn_hash(msisdn)
    masked = msisdn if msisdn and "*" in msisdn else ""
    payer_names = _name_tokens(first_name, middle_name, last_name)
    queryset = _matchable().select_related("user").order_by("pk")

    condition = _account_condition(normalised)
    found = list(queryset.filter(condition)) if condition is not None else []
    if found:
        forms = membership_number_forms(normalised)
        phone = typed_phone(normalised)
        rules = {m.pk: _rules_for(m, normalised, forms, phone) for m in found}
        if len(found) == 1:
            member = found[0]
            return AccountMatch(
                member=member,
                rule=rules[member.pk][0],
                reason=f"The account typed, {typed!r}, is the {_rule_words(rules[member.pk])} of {_describe(member)}.",
            )
        narrowed, why = _break_tie(found, hashed=hashed, masked=masked, payer_names=payer_names)
        listed = "; ".join(f"{_describe(m)} by {_rule_words(rules[m.pk])}" for m in found)
        if len(narrowed) == 1:
            member = narrowed[0]
            return AccountMatch(
                member=member,
                rule=rules[member.pk][0],
                reason=f"The account typed, {typed!r}, fits {len(found)} members ({listed}); "
                f"{why}: {_describe(member)}.",
            )
        return AccountMatch(
            member=None,
            rule=MatchRule.AMBIGUOUS,
            candidates=tuple(m.pk for m in narrowed),
            reason=f"The account typed, {typed!r}, fits {len(found)} members ({listed}); nothing in the payment "
            "tells them apart.",
        )

    typed_words = f"The account typed, {typed!r}, matches no member" if typed else "No account was typed"
    if not normalised or normalised.isdigit() and len(normalised) <= 4:
        typed_words += " (a membership number needs its year, e.g. KTS-2026-0042)" if normalised else ""
    if hashed:
        same_phone = list(queryset.filter(phone_hash=hashed))
        if len(same_phone) == 1:
            member = same_phone[0]
            return AccountMatch(
                member=member,
                rule=MatchRule.MSISDN_HASH,
                reason=f"{typed_words}; the payer's phone (hashed by M-Pesa) is {_describe(member)}'s.",
            )
        if same_phone:
            narrowed, why = _break_tie(same_phone, hashed="", masked="", payer_names=payer_names)
            if len(narrowed) == 1:
                member = narrowed[0]
                return AccountMatch(
                    member=member,
                    rule=MatchRule.MSISDN_HASH,
                    reason=f"{typed_words}; the payer's phone (hashed by M-Pesa) is shared by {len(same_phone)} "
                    f"members and {why}: {_describe(member)}.",
                )
            return AccountMatch(
                member=None,
                rule=MatchRule.AMBIGUOUS,
                candidates=tuple(m.pk for m in narrowed),
                reason=f"{typed_words}; the payer's phone (hashed by M-Pesa) is shared by {len(same_phone)} members "
                "and nothing in the payment tells them apart.",
            )
        typed_words += "; nor does the payer's phone (hashed by M-Pesa)"
    elif masked:
        typed_words += f"; the payer's phone is masked ({masked.strip()}), which alone identifies nobody"
    return AccountMatch(member=None, rule=MatchRule.NONE, reason=typed_words + ".")
