"""Regenerate fixtures/countries.json and fixtures/regions.json.

Not needed to run the project (the JSON files are committed). To rebuild them:
    .venv/bin/pip install pycountry && .venv/bin/python scripts/build_reference_fixtures.py

Countries: every ISO 3166-1 country (pycountry) with its calling code (phonenumbers).
Regions: Kenya's 47 counties with their official codes (First Schedule, Constitution of Kenya 2010),
then the first-level subdivisions of the other East African Community states from ISO 3166-2.
"""

import json
from pathlib import Path

import phonenumbers
import pycountry

ROOT = Path(__file__).resolve().parent.parent

KENYA_COUNTIES = [
    "Mombasa",
    "Kwale",
    "Kilifi",
    "Tana River",
    "Lamu",
    "Taita-Taveta",
    "Garissa",
    "Wajir",
    "Mandera",
    "Marsabit",
    "Isiolo",
    "Meru",
    "Tharaka-Nithi",
    "Embu",
    "Kitui",
    "Machakos",
    "Makueni",
    "Nyandarua",
    "Nyeri",
    "Kirinyaga",
    "Murang'a",
    "Kiambu",
    "Turkana",
    "West Pokot",
    "Samburu",
    "Trans Nzoia",
    "Uasin Gishu",
    "Elgeyo-Marakwet",
    "Nandi",
    "Baringo",
    "Laikipia",
    "Nakuru",
    "Narok",
    "Kajiado",
    "Kericho",
    "Bomet",
    "Kakamega",
    "Vihiga",
    "Bungoma",
    "Busia",
    "Siaya",
    "Kisumu",
    "Homa Bay",
    "Migori",
    "Kisii",
    "Nyamira",
    "Nairobi City",
]
EAST_AFRICA = ["UG", "TZ", "RW", "BI", "SS", "CD", "SO"]


def countries():
    rows = []
    for country in sorted(pycountry.countries, key=lambda c: c.alpha_2):
        code = phonenumbers.country_code_for_region(country.alpha_2)
        rows.append(
            {
                "model": "members.country",
                "pk": country.alpha_2,
                "fields": {
                    "name": getattr(country, "common_name", None) or country.name,
                    "iso3": country.alpha_3,
                    "dial_code": str(code) if code else "",
                },
            }
        )
    return rows


def regions():
    rows = []
    pk = 0
    for number, name in enumerate(KENYA_COUNTIES, start=1):
        pk += 1
        rows.append(
            {"model": "members.region", "pk": pk, "fields": {"country": "KE", "code": f"{number:03d}", "name": name}}
        )
    for alpha_2 in EAST_AFRICA:
        top_level = [s for s in pycountry.subdivisions.get(country_code=alpha_2) if s.parent_code is None]
        for subdivision in sorted(top_level, key=lambda s: s.code):
            pk += 1
            rows.append(
                {
                    "model": "members.region",
                    "pk": pk,
                    "fields": {"country": alpha_2, "code": subdivision.code.split("-", 1)[1], "name": subdivision.name},
                }
            )
    return rows


def write(name, rows):
    path = ROOT / "fixtures" / name
    path.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    print(f"{path.relative_to(ROOT)}: {len(rows)} rows")


if __name__ == "__main__":
    write("countries.json", countries())
    write("regions.json", regions())
