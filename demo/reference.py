"""The reference data every install needs (countries, Kenyan counties, membership categories), loaded from
the fixtures the brief's loaddata commands use, into empty tables only."""

from django.conf import settings
from django.core.management import call_command

from members.models import Country, MembershipCategory, Region

FIXTURES = {
    Country: "fixtures/countries.json",
    Region: "fixtures/regions.json",
    MembershipCategory: "fixtures/membership_categories.json",
}


def reference_data_load() -> list[str]:
    """Load each fixture whose table is empty; return the fixtures loaded."""
    loaded = []
    for model, path in FIXTURES.items():
        if not model.objects.exists():
            call_command("loaddata", str(settings.BASE_DIR / path), verbosity=0)
            loaded.append(path)
    return loaded
