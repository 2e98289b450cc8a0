import pytest
from django.core.exceptions import ValidationError

from core.phones import mask_phone, normalise_phone


@pytest.mark.parametrize(
    "typed",
    ["0712345678", "0712 345 678", "+254712345678", "254712345678", "+254 712-345-678", " 0712345678 "],
)
def test_it_normalises_every_common_safaricom_form(typed):
    assert normalise_phone(typed) == "254712345678"


@pytest.mark.parametrize("typed", ["0110123456", "+254110123456", "254110123456"])
def test_it_normalises_the_01_mobile_range(typed):
    assert normalise_phone(typed) == "254110123456"


def test_it_reads_other_countries_in_international_form():
    assert normalise_phone("+256772123456") == "256772123456"


@pytest.mark.parametrize("typed", ["", "12345", "0712", "07123456789012", "not a phone", "0201234567"])
def test_it_refuses_what_is_not_a_mobile_number(typed):
    with pytest.raises(ValidationError):
        normalise_phone(typed)


def test_masking_keeps_only_the_ends():
    assert mask_phone("254712345678") == "2547****5678"
    assert mask_phone("") == "****"
