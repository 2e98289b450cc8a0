"""members.account_match: which member a Paybill payment is for, and why (issue 14, Matching)."""

import hashlib

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from hypothesis import given
from hypothesis import strategies as st

from members.account_match import (
    AccountMatch,
    MatchRule,
    account_exists,
    account_match,
    membership_number_forms,
    normalise_account,
)
from members.models import Member, account_reference_for, new_account_reference, phone_hash_of
from members.profile import member_update_profile
from members.services import member_reject
from privacy.erasure import erasure_approve, erasure_request
from tests.factories import PASSWORD, MemberFactory

pytestmark = pytest.mark.django_db


def sha(phone: str) -> str:
    return hashlib.sha256(phone.encode()).hexdigest()


@pytest.fixture
def prefix(settings):
    settings.MEMBERSHIP_NUMBER_PREFIX = "KTS"
    return "KTS"


def numbered(number, **kwargs):
    member = MemberFactory(**kwargs)
    Member.objects.filter(pk=member.pk).update(membership_number=number, status=Member.Status.ACTIVE)
    member.refresh_from_db()
    return member


@pytest.fixture
def wanjiku(reference_data, prefix):
    return numbered(
        "KTS-2026-0042",
        user__first_name="Wanjiku",
        user__last_name="Kamau",
        other_names="Njeri",
        id_number="27654321",
        phone_number="254722334455",
    )


# --- Normalising ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("kts 2026 42", "KTS202642"),
        ("KTS-2026-0042", "KTS20260042"),
        ("2026/0042", "20260042"),
        ("kts2026 0042", "KTS20260042"),
        (" k.t.s_2026,#0042 ", "KTS20260042"),
        ("ＫＴＳ－２０２６－００４２", "KTS20260042"),  # fullwidth, as some phone keyboards type
        ("KTS\u20122026\u20140042", "KTS20260042"),  # figure dash, em dash
        ("", ""),
    ],
    ids=["spaces", "dashes", "slash", "mixed", "punctuation", "fullwidth", "unicode-dashes", "empty"],
)
def test_normalise_account_folds_case_spaces_separators_and_look_alikes(typed, expected):
    assert normalise_account(typed) == expected


@pytest.mark.parametrize(
    ("typed", "forms"),
    [
        ("kts 2026 42", ["KTS-2026-0042"]),
        ("KTS-2026-0042", ["KTS-2026-0042"]),
        ("2026/0042", ["KTS-2026-0042"]),
        ("kts2026 0042", ["KTS-2026-0042"]),
        ("2026 12345", ["KTS-2026-12345"]),
        ("ABC-2019-7", ["ABC-2019-0007"]),  # a number issued under an earlier prefix
        ("42", []),  # no year: number 42 of every year
        ("0042", []),
        ("2026", []),
        ("KTS-2026-0000", []),
        ("0712345678", []),
    ],
    ids=[
        "spaces",
        "dashes",
        "slash",
        "mixed",
        "wide",
        "old-prefix",
        "no-year",
        "no-year-zeros",
        "year-only",
        "zero",
        "phone",
    ],
)
def test_membership_number_forms(prefix, typed, forms):
    assert membership_number_forms(normalise_account(typed)) == forms


SEPARATORS = st.sampled_from([" ", "-", "/", ".", "_", ",", "#", "\u2013", "\u00a0", "", "  "])


@given(
    year=st.integers(1990, 2099),
    number=st.integers(1, 99_999),
    zeros=st.integers(0, 4),
    prefix=st.sampled_from(["KTS", "kts", "Kts", "ＫＴＳ", ""]),
    first=SEPARATORS,
    second=SEPARATORS,
)
def test_any_way_of_typing_a_membership_number_finds_its_stored_form(year, number, zeros, prefix, first, second):
    """Case, separators, fullwidth letters and leading zeros never change which number is meant."""
    typed = f"{prefix}{first if prefix else ''}{year}{second}{'0' * zeros}{number}"
    with override_settings(MEMBERSHIP_NUMBER_PREFIX="KTS"):
        forms = membership_number_forms(normalise_account(typed))
    assert forms == [f"KTS-{year}-{number:04d}"]


# --- Each rule --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["kts 2026 42", "KTS-2026-0042", "2026/0042", "kts2026 0042", "Kts.2026.42"])
def test_every_form_of_the_membership_number_matches(wanjiku, typed):
    result = account_match(bill_ref=typed)

    assert result.member == wanjiku
    assert result.rule == MatchRule.MEMBERSHIP_NUMBER
    assert "membership number" in result.reason and "KTS-2026-0042" in result.reason


def test_a_number_without_its_year_matches_nobody(wanjiku):
    numbered("KTS-2025-0042")

    result = account_match(bill_ref="42")

    assert result == AccountMatch(member=None, rule=MatchRule.NONE, reason=result.reason)
    assert "needs its year" in result.reason
    assert account_exists("42") is False


def test_an_applicants_account_reference_matches(reference_data):
    applicant = MemberFactory()
    assert applicant.membership_number is None and len(applicant.account_reference) == 8

    typed = " ".join(applicant.account_reference.lower())  # "k 7 q 3 ..." as typed on a phone
    result = account_match(bill_ref=typed)

    assert result.member == applicant
    assert result.rule == MatchRule.ACCOUNT_REFERENCE
    assert applicant.account_reference in result.reason and "applicant" in result.reason


def test_the_national_id_matches(wanjiku):
    result = account_match(bill_ref="27 654 321")

    assert (result.member, result.rule) == (wanjiku, MatchRule.NATIONAL_ID)
    assert "id or passport number" in result.reason


def test_a_passport_number_matches(reference_data):
    member = MemberFactory(id_type=Member.IdType.PASSPORT, id_number="AK1234567")

    result = account_match(bill_ref="ak 123 4567")

    assert (result.member, result.rule) == (member, MatchRule.NATIONAL_ID)


@pytest.mark.parametrize("typed", ["0722334455", "0722 334 455", "+254 722 334 455", "254722334455", "722334455"])
def test_a_phone_typed_as_the_account_matches(wanjiku, typed):
    result = account_match(bill_ref=typed)

    assert (result.member, result.rule) == (wanjiku, MatchRule.PHONE_TYPED)


def test_the_hashed_msisdn_matches_when_the_account_matches_nobody(wanjiku):
    result = account_match(bill_ref="my membership", msisdn=sha("254722334455"))

    assert (result.member, result.rule) == (wanjiku, MatchRule.MSISDN_HASH)
    assert "hashed" in result.reason and "matches no member" in result.reason


def test_a_hash_in_capitals_or_a_clear_msisdn_also_matches(wanjiku):
    assert account_match(bill_ref="", msisdn=sha("254722334455").upper()).member == wanjiku
    assert account_match(bill_ref="", msisdn="254722334455").member == wanjiku


def test_the_typed_account_wins_over_the_payers_phone(wanjiku, reference_data):
    """Someone paying for a colleague: the account says who the money is for, the phone only who paid."""
    colleague = numbered("KTS-2026-0007")

    result = account_match(bill_ref="KTS 2026 7", msisdn=sha("254722334455"))

    assert (result.member, result.rule) == (colleague, MatchRule.MEMBERSHIP_NUMBER)


def test_an_unknown_account_and_phone_match_nobody_and_say_so(wanjiku):
    result = account_match(bill_ref="KTS-2026-9999", msisdn=sha("254700000001"))

    assert (result.member, result.rule, result.candidates) == (None, MatchRule.NONE, ())
    assert "'KTS-2026-9999', matches no member" in result.reason and "hashed" in result.reason


# --- Ambiguity and tie-breakers ---------------------------------------------------------------------------


@pytest.fixture
def clash(wanjiku, reference_data):
    """`20260042` is Wanjiku's membership number without its prefix and Otieno's national ID."""
    otieno = MemberFactory(
        user__first_name="Otieno", user__last_name="Ochieng", id_number="20260042", phone_number="254711000126"
    )
    return wanjiku, otieno


def test_an_account_that_fits_two_members_is_ambiguous(clash):
    wanjiku, otieno = clash

    result = account_match(bill_ref="2026-0042")

    assert result.member is None and result.rule == MatchRule.AMBIGUOUS
    assert result.candidates == tuple(sorted([wanjiku.pk, otieno.pk]))
    assert "membership number" in result.reason and "id or passport number" in result.reason
    assert account_exists("2026-0042") is True


def test_the_hashed_msisdn_breaks_the_tie(clash):
    wanjiku, otieno = clash

    result = account_match(bill_ref="2026-0042", msisdn=sha("254711000126"))

    assert (result.member, result.rule) == (otieno, MatchRule.NATIONAL_ID)
    assert "hashed" in result.reason


def test_a_masked_msisdn_breaks_the_tie(clash):
    wanjiku, otieno = clash

    # Otieno's 254711000126 shows as 2547 ***** 126; Wanjiku's 254722334455 would end 455.
    result = account_match(bill_ref="2026-0042", msisdn="2547 ***** 126")

    assert (result.member, result.rule) == (otieno, MatchRule.NATIONAL_ID)
    assert "masked" in result.reason


def test_the_payers_names_break_the_tie(clash):
    wanjiku, otieno = clash

    result = account_match(bill_ref="2026-0042", first_name="WANJIKU", middle_name="", last_name="Kamau")

    assert (result.member, result.rule) == (wanjiku, MatchRule.MEMBERSHIP_NUMBER)
    assert "names" in result.reason


def test_a_masked_msisdn_or_names_never_match_alone(wanjiku):
    masked = account_match(bill_ref="nothing", msisdn="2547 ***** 455")
    named = account_match(bill_ref="nothing", first_name="Wanjiku", middle_name="Njeri", last_name="Kamau")

    assert (masked.member, masked.rule) == (None, MatchRule.NONE)
    assert "masked" in masked.reason
    assert (named.member, named.rule) == (None, MatchRule.NONE)


def test_a_tie_nothing_breaks_stays_ambiguous(clash):
    result = account_match(bill_ref="2026-0042", msisdn="2547 ***** 999", first_name="Someone", last_name="Else")

    assert result.rule == MatchRule.AMBIGUOUS and len(result.candidates) == 2


def test_a_phone_shared_by_two_members_is_broken_by_names_or_left_ambiguous(reference_data):
    mother = MemberFactory(user__first_name="Akinyi", user__last_name="Odhiambo", phone_number="254733000111")
    MemberFactory(user__first_name="Baraka", user__last_name="Odhiambo", phone_number="254733000111")

    shared = account_match(bill_ref="", msisdn=sha("254733000111"))
    named = account_match(bill_ref="", msisdn=sha("254733000111"), first_name="Akinyi", last_name="Odhiambo")
    typed = account_match(bill_ref="0733 000 111")

    assert shared.rule == MatchRule.AMBIGUOUS and len(shared.candidates) == 2
    assert (named.member, named.rule) == (mother, MatchRule.MSISDN_HASH)
    assert typed.rule == MatchRule.AMBIGUOUS


# --- Who can be matched -----------------------------------------------------------------------------------


def test_a_rejected_applicant_still_matches_so_the_money_can_be_refunded(reference_data, staff_user):
    applicant = MemberFactory()
    member_reject(member=applicant, actor=staff_user, reason="Incomplete documents.")

    result = account_match(bill_ref=applicant.account_reference)

    assert result.member == applicant and result.member.status == Member.Status.REJECTED
    assert account_exists(applicant.account_reference) is True


def test_an_erased_member_matches_nothing_and_keeps_no_phone_hash(wanjiku, admin_user):
    reference = wanjiku.account_reference
    erasure_approve(erasure=erasure_request(member=wanjiku, password=PASSWORD), actor=admin_user)

    stored = Member.objects.values_list("phone_hash", "phone_number").get(pk=wanjiku.pk)
    assert stored == ("", "")
    for typed in ("KTS-2026-0042", reference, f"ERASED-{wanjiku.pk}", "0722334455"):
        assert account_match(bill_ref=typed).rule == MatchRule.NONE, typed
        assert account_exists(typed) is False, typed
    assert account_match(bill_ref="", msisdn=sha("254722334455")).rule == MatchRule.NONE


# --- The phone hash follows the phone ---------------------------------------------------------------------


def stored_hash(member) -> str:
    return Member.objects.values_list("phone_hash", flat=True).get(pk=member.pk)


def test_registration_stores_the_phone_hash(wanjiku):
    assert stored_hash(wanjiku) == sha("254722334455") == phone_hash_of("254722334455")


@pytest.mark.parametrize("actor", ["member", "staff"])
def test_a_phone_change_moves_the_hash(wanjiku, staff_user, actor):
    member_update_profile(
        member=wanjiku, actor=wanjiku.user if actor == "member" else staff_user, data={"phone_number": "0798765432"}
    )

    assert stored_hash(wanjiku) == sha("254798765432")
    assert account_match(bill_ref="", msisdn=sha("254798765432")).member == wanjiku
    assert account_match(bill_ref="", msisdn=sha("254722334455")).rule == MatchRule.NONE


def test_saving_with_update_fields_moves_the_hash(wanjiku):
    wanjiku.phone_number = "254798765432"
    wanjiku.save(update_fields=["phone_number"])

    assert stored_hash(wanjiku) == sha("254798765432")


def test_the_admin_moves_the_hash(client, admin_user, wanjiku):
    admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    url = f"/admin/members/member/{wanjiku.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(
        {
            "user": wanjiku.user_id,
            "category": wanjiku.category_id,
            "country": wanjiku.country_id,
            "region": wanjiku.region_id,
            "date_of_birth": "1990-01-15",
            "phone_number": "254798765432",
            "documents-TOTAL_FORMS": "0",
            "documents-INITIAL_FORMS": "0",
            "documents-MIN_NUM_FORMS": "0",
            "documents-MAX_NUM_FORMS": "1000",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""

    assert stored_hash(wanjiku) == sha("254798765432")


# --- Account references -----------------------------------------------------------------------------------


def test_account_references_are_short_unambiguous_and_distinct(reference_data):
    codes = {new_account_reference() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert len(code) == 8 and code[0].isalpha() and not set(code) & set("01OIL")
    bulk = {account_reference_for(n) for n in range(1, 50_001)}
    assert len(bulk) == 50_000
    a, b = MemberFactory(), MemberFactory()
    assert a.account_reference != b.account_reference


# --- account_exists: one indexed lookup -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "exists"),
    [
        ("kts 2026 42", True),
        ("27654321", True),
        ("0722 334 455", True),
        ("KTS-2026-0043", False),
        ("", False),
        ("x" * 200, False),
    ],
    ids=["number", "id", "phone", "unknown", "empty", "overlong"],
)
def test_account_exists(wanjiku, typed, exists):
    with CaptureQueriesContext(connection) as queries:
        assert account_exists(typed) is exists
    assert len(queries) <= 1


def test_account_exists_by_reference_or_hashed_msisdn(wanjiku):
    assert account_exists(wanjiku.account_reference.lower()) is True
    assert account_exists("unknown", msisdn=sha("254722334455")) is True
    assert account_exists("unknown", msisdn="2547 ***** 455") is False


def test_account_exists_uses_indexes_not_a_scan(wanjiku):
    """On PostgreSQL every branch of the lookup's OR must be served by an index: with sequential scans
    priced out, a branch no index serves would still show up as a Seq Scan."""
    if connection.vendor != "postgresql":
        pytest.skip("Index plans are checked on PostgreSQL: set DATABASE_URL=postgres://...")
    # A typed phone (reference, ID and phone branches) and a membership number, each with the hashed MSISDN:
    # the very statements account_exists runs, explained.
    plans = []
    for typed in ("0722 334 455", "kts 2026 42"):
        with CaptureQueriesContext(connection) as queries:
            assert account_exists(typed, msisdn=sha("254722334455")) is True
        (query,) = queries.captured_queries
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN " + query["sql"])
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    plan = "\n".join(plans)
    assert "Seq Scan" not in plan, plan
    for index in ("account_reference", "membership_number", "unique_id_number", "phone_number", "phone_hash"):
        assert index in plan, plan
