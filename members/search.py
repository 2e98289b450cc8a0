"""Free-text search over members at scale.

Names and email live on the user row, the rest on the member row; an OR across two tables cannot use
one index. So each member carries `search_text`: its name, email, membership number, ID number and
phone (international and local form), lower-cased. On PostgreSQL a `pg_trgm` GIN index on that column
(migration 0004) turns `LIKE '%term%'` into an index scan; on SQLite the same query scans, which is
fine at embedded sizes.

`member_search_text(member)` says what the column holds. The services that change one of its inputs (the
user's names and email, other names, membership number, ID number, phone) call
`member_search_text_refresh()` in their transaction: registration, approval (the number), profile changes by
the member or staff, erasure, and the admin's edits; the demo data generator writes it in bulk. Saving a
member or a user does not touch it, so new code that writes one of those fields must call it too (the tests
in members/tests/test_search_text.py walk each service).
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db.models import Q

from core.phones import normalise_phone

from .models import Member, phone_hash_of

_PHONE_LIKE = re.compile(r"^\+?[\d\s()-]{9,}$")


def member_search_text(member) -> str:
    """The lower-cased text a search for this member matches: names, email, number, ID number, phone."""
    user = member.user
    phone = member.phone_number or ""
    parts = [
        user.first_name,
        member.other_names,
        user.last_name,
        user.email,
        member.membership_number or "",
        member.id_number,
        phone,
    ]
    if phone.startswith("254") and len(phone) == 12:
        parts.append("0" + phone[3:])  # 0712345678, as people type it
    return " ".join(p.strip().lower() for p in parts if p and p.strip())


def search_terms(query: str) -> list[str]:
    """The lower-cased terms a member must all contain. A phone number in any form (0712 345 678,
    +254 712 345 678, 254712345678) becomes its international digits, so it matches however it was typed."""
    query = (query or "").strip()
    if not query:
        return []
    if _PHONE_LIKE.match(query):
        try:
            return [normalise_phone(query)]
        except ValidationError:
            pass
    terms = []
    for token in query.lower().split():
        if _PHONE_LIKE.match(token):
            try:
                token = normalise_phone(token)
            except ValidationError:
                pass
        terms.append(token)
    return terms


def search_condition(query: str, prefix: str = "") -> Q | None:
    """A Q that matches members containing every term of `query`, or None when there is nothing to match."""
    terms = search_terms(query)
    if not terms:
        return None
    condition = Q()
    for term in terms:
        # `contains` (LIKE) rather than `icontains` (UPPER(...) LIKE): the text is stored lower-cased and
        # the trigram index is on the bare column.
        condition &= Q(**{f"{prefix}search_text__contains": term})
    return condition


_MEMBERSHIP_NUMBER = re.compile(r"^[A-Za-z]{1,10}-\d{4}-\d{1,7}$")
_ID_NUMBER = re.compile(r"^[A-Za-z]{0,2}\d{6,12}$")


def exact_identifier_condition(query: str) -> Q | None:
    """For a query that looks like one identifier (a membership number, a phone number in any form, an ID
    number), a Q matching it exactly through its own unique or plain index; None for anything else.

    Staff paste identifiers more than anything; an exact match answers in well under a millisecond where
    the trigram index needs tens, and it is what they meant. The caller falls back to `search_condition`
    when the exact match finds nobody (a partial number, say)."""
    query = (query or "").strip()
    if not query or len(query.split()) > 4:
        return None
    condition = Q()
    if _MEMBERSHIP_NUMBER.match(query):
        condition |= Q(membership_number=query.upper())
    if _PHONE_LIKE.match(query):
        try:
            condition |= Q(phone_number=normalise_phone(query))
        except ValidationError:
            pass
    compact = query.replace(" ", "")
    if _ID_NUMBER.match(compact):
        # id_type__in lets the (id_type, id_number) unique index serve the lookup.
        condition |= Q(id_type__in=Member.IdType.values, id_number=compact.upper())
    return condition or None


def member_search_text_update(member) -> bool:
    """Store `search_text` (and `phone_hash`, which the same services must keep: members.account_match) as
    `member` (and its user) now are in memory; return whether either changed."""
    text = member_search_text(member)
    phone_hash = phone_hash_of(member.phone_number)
    if text == member.search_text and phone_hash == member.phone_hash:
        return False
    Member.objects.filter(pk=member.pk).update(search_text=text, phone_hash=phone_hash)
    member.search_text, member.phone_hash = text, phone_hash
    return True


def member_search_text_refresh(member_ids) -> int:
    """Rebuild `search_text` of these members as the database now holds them; return how many changed."""
    members = Member.objects.filter(pk__in=list(member_ids)).select_related("user")
    return sum(member_search_text_update(member) for member in members)
