"""The brief's three loaddata commands, run as it documents them (from the project directory)."""

import os

import pytest
from django.conf import settings
from django.core.management import call_command

from members.models import Country, DocumentType, MembershipCategory, Region

pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded():
    cwd = os.getcwd()
    os.chdir(settings.BASE_DIR)
    try:
        for path in ("fixtures/countries.json", "fixtures/regions.json", "fixtures/membership_categories.json"):
            call_command("loaddata", path, verbosity=0)
    finally:
        os.chdir(cwd)


def test_every_iso_country_is_loaded_with_its_dial_code(loaded):
    assert Country.objects.count() >= 249
    assert Country.objects.get(pk="KE").dial_code == "254"
    assert Country.objects.get(pk="UG").dial_code == "256"
    # Only uninhabited territories have no calling code of their own.
    assert set(Country.objects.filter(dial_code="").values_list("pk", flat=True)) <= {
        "AQ",
        "BV",
        "GS",
        "HM",
        "PN",
        "TF",
        "UM",
    }


def test_kenya_has_its_47_counties_with_official_codes(loaded):
    counties = Region.objects.filter(country="KE")
    assert counties.count() == 47
    assert sorted(counties.values_list("code", flat=True)) == [f"{n:03d}" for n in range(1, 48)]
    assert counties.get(code="001").name == "Mombasa"
    assert counties.get(code="047").name == "Nairobi City"


def test_categories_have_fees_periods_and_known_document_types(loaded):
    categories = MembershipCategory.objects.all()
    assert {c.code for c in categories} >= {"student", "associate", "full", "corporate", "life"}
    for category in categories:
        category.full_clean()
        assert set(category.required_documents) <= set(DocumentType.values)
        assert category.registration_fee > 0
    assert MembershipCategory.objects.get(code="life").period_months == 0


def test_loading_twice_changes_nothing(loaded):
    before = (Country.objects.count(), Region.objects.count(), MembershipCategory.objects.count())
    for path in ("countries", "regions", "membership_categories"):
        call_command("loaddata", str(settings.BASE_DIR / "fixtures" / f"{path}.json"), verbosity=0)
    assert (Country.objects.count(), Region.objects.count(), MembershipCategory.objects.count()) == before
