"""M-Pesa configuration mistakes are refused at start-up (payments/checks.py), not at the first payment."""

import pytest

from payments.checks import check_mpesa_settings


def ids(errors):
    return [error.id for error in errors]


@pytest.mark.parametrize("environment", ["simulator", "sandbox", "production", " Sandbox "])
def test_it_accepts_the_known_environments(settings, environment):
    settings.MPESA_ENVIRONMENT = environment
    assert check_mpesa_settings(None) == []


@pytest.mark.parametrize("environment", ["staging", "sandbox  # Change to 'production' for live", ""])
def test_it_refuses_an_unknown_environment_with_a_clear_message(settings, environment):
    settings.MPESA_ENVIRONMENT = environment
    (error,) = check_mpesa_settings(None)
    assert error.id == "payments.E004"
    assert repr(environment) in error.msg and "sandbox" in error.hint


@pytest.mark.parametrize("shortcode", ["174379  # Your business shortcode", "17437a", "", "١٧٤٣٧٩"])
def test_it_refuses_a_shortcode_that_is_not_digits(settings, shortcode):
    settings.MPESA_SHORTCODE = shortcode
    (error,) = check_mpesa_settings(None)
    assert error.id == "payments.E005"
    assert "MPESA_SHORTCODE" in error.msg and "digits only" in error.msg


def test_it_refuses_a_till_number_that_is_not_digits(settings):
    settings.MPESA_PARTY_B = "till 123"
    assert ids(check_mpesa_settings(None)) == ["payments.E005"]


def test_it_accepts_an_empty_till_number(settings):
    settings.MPESA_PARTY_B = ""
    assert check_mpesa_settings(None) == []


def test_it_refuses_an_unknown_transaction_type(settings):
    settings.MPESA_TRANSACTION_TYPE = "PayBill"
    assert ids(check_mpesa_settings(None)) == ["payments.E006"]
