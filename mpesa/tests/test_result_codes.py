import pytest

from mpesa import result_codes
from mpesa.result_codes import RESULT_CODES, Outcome, is_paid, lookup, member_message, normalise_code, outcome_for

# Every code daraja.md section 6 lists, as Daraja spells it.
DOCUMENTED_CODES = {
    "0", "1", "2", "3", "4", "8", "17", "26", "1001", "1019", "1025", "9999",
    "1032", "1037", "2001", "2028", "8006", "SFC_IC0003", "4999",
}  # fmt: skip


def test_the_table_lists_every_documented_code_and_nothing_else():
    assert set(RESULT_CODES) == DOCUMENTED_CODES


def test_every_code_in_the_table_has_exactly_one_name():
    names = {
        name: value
        for name, value in vars(result_codes).items()
        if name.isupper() and isinstance(value, str) and value in RESULT_CODES and name != "REQUEST_ACCEPTED"
    }
    assert sorted(names.values()) == sorted(RESULT_CODES)
    assert result_codes.CANCELLED_BY_USER == "1032" and result_codes.STILL_PROCESSING == "4999"


def test_only_zero_means_paid():
    paid = {code for code in RESULT_CODES if outcome_for(code) is Outcome.PAID}
    assert paid == {"0"}


def test_the_callbacks_int_and_the_querys_string_mean_the_same():
    assert outcome_for(0) is outcome_for("0") is Outcome.PAID
    assert outcome_for(1032) is outcome_for("1032") is Outcome.FAILED
    assert lookup(1037) is lookup("1037")


def test_4999_means_still_pending_and_is_not_terminal():
    entry = lookup("4999")
    assert entry.outcome is Outcome.PENDING
    assert not entry.terminal


@pytest.mark.parametrize("code", ["7777", 7777, "R000002", "00", "0.0", 0.0, True, False, "", None, "paid"])
def test_an_unlisted_code_is_failed_or_unknown_and_never_paid(code):
    entry = lookup(code)
    assert entry.outcome is Outcome.FAILED
    assert not entry.known
    assert not is_paid(code)
    assert entry.member_message == "M-Pesa did not confirm the payment."


def test_a_string_code_like_sfc_ic0003_is_a_listed_failure():
    entry = lookup("SFC_IC0003")
    assert entry.known
    assert entry.outcome is Outcome.FAILED


def test_codes_are_normalised_to_daraja_strings():
    assert normalise_code(0) == "0"
    assert normalise_code(" 1032 ") == "1032"
    assert normalise_code("SFC_IC0003") == "SFC_IC0003"
    assert normalise_code(None) is None
    assert normalise_code("  ") is None
    assert normalise_code(True) == "True"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (1032, "You cancelled the M-Pesa prompt."),
        (1, "Your M-Pesa balance was not enough."),
        (2001, "The M-Pesa PIN was wrong."),
        (1037, "Your phone did not respond in time."),
    ],
)
def test_a_member_reads_what_went_wrong_in_plain_words(code, message):
    assert member_message(code) == message


def test_every_code_has_a_meaning_and_a_member_message():
    for entry in RESULT_CODES.values():
        assert entry.meaning
        assert entry.member_message.endswith(".")


def test_every_failure_is_terminal_and_only_transient_ones_invite_a_retry():
    retry_later = {
        code for code, entry in RESULT_CODES.items() if entry.retry_later and entry.outcome is Outcome.FAILED
    }
    assert retry_later == {"17", "26", "1001", "1019", "1025", "9999", "1037"}
    assert all(entry.terminal for entry in RESULT_CODES.values() if entry.outcome is Outcome.FAILED)


def test_codes_that_ask_for_a_wait_say_how_long():
    assert lookup("1001").retry_after_seconds == 60
    assert lookup("17").retry_after_seconds == 120
    assert lookup("1032").retry_after_seconds == 0
