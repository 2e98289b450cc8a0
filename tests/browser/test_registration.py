"""A person applies for membership through the real registration page."""

import pytest
from playwright.sync_api import expect

from members.models import Document, Member
from members.sample_files import sample_jpeg, sample_pdf, sample_png

from .helpers import submit

NEW_PASSWORD = "Twiga-Safari-Mombasa-2031"


@pytest.fixture
def documents(tmp_path):
    """Real files on disk, as a person would pick them in the file chooser."""
    folder = tmp_path / "to-upload"
    folder.mkdir()
    files = {
        "national_id": ("national-id.pdf", sample_pdf()),
        "passport_photo": ("passport-photo.jpg", sample_jpeg()),
        "certificate": ("diploma.png", sample_png()),
    }
    paths = {}
    for code, (name, content) in files.items():
        paths[code] = folder / name
        paths[code].write_bytes(content)
    return paths


def fill_application(page, documents, **overrides):
    """Fill every field of the registration form like a person would; `overrides` replace typed values."""
    values = {
        "first_name": "Wanjiku",
        "other_names": "Njeri",
        "last_name": "Kamau",
        "id_number": "32145678",
        "date_of_birth": "1992-04-18",
        "occupation": "Land surveyor",
        "organisation": "Rift Valley Surveys Ltd",
        "phone_number": "0712 345 678",
        "email": "wanjiku.kamau@example.com",
        "physical_address": "Moi Avenue, Nairobi",
        "postal_address": "P.O. Box 1234-00100, Nairobi",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        **overrides,
    }
    page.get_by_label("Membership category").select_option(label="Full / Professional")
    page.get_by_label("First name").fill(values["first_name"])
    page.get_by_label("Other names").fill(values["other_names"])
    page.get_by_label("Last name").fill(values["last_name"])
    page.get_by_label("ID type").select_option(label="National ID")
    page.get_by_label("ID or passport number").fill(values["id_number"])
    page.get_by_label("Date of birth").fill(values["date_of_birth"])
    page.get_by_label("Gender").select_option(label="Female")
    page.get_by_label("Occupation").fill(values["occupation"])
    page.get_by_label("Employer or organisation").fill(values["organisation"])
    page.get_by_label("Phone number").fill(values["phone_number"])
    page.get_by_label("Email").fill(values["email"])
    page.get_by_label("Country").select_option(label="Kenya")
    page.get_by_label("County / region").select_option(label="Nairobi City")
    page.get_by_label("Physical address").fill(values["physical_address"])
    page.get_by_label("Postal address").fill(values["postal_address"])
    page.get_by_label("National ID or passport copy").set_input_files(documents["national_id"])
    page.get_by_label("Passport photo").set_input_files(documents["passport_photo"])
    page.get_by_label("Academic or professional certificate").set_input_files(documents["certificate"])
    page.get_by_role("textbox", name="Password", exact=True).fill(values["password1"])
    page.get_by_label("Confirm password").fill(values["password2"])
    page.get_by_label("I have read the privacy notice").check()
    return values


def test_a_person_registers_and_lands_on_the_portal(page, reference_data, documents, artifacts_dir):
    page.goto("/register/")
    expect(page.get_by_role("heading", name="Apply for membership")).to_be_visible()
    # The page's script marks the chosen category's documents as required.
    page.get_by_label("Membership category").select_option(label="Full / Professional")
    expect(page.get_by_label("Academic or professional certificate")).to_have_attribute("required", "")

    fill_application(page, documents)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Submit application").click()

    assert navigation.value.ok, navigation.value.status
    assert page.url.endswith("/portal/"), page.url
    expect(page.get_by_role("alert")).to_contain_text("Application received")
    expect(page.locator("#member-status")).to_have_text("Pending review")
    expect(page.get_by_role("heading", name="Wanjiku Njeri Kamau")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "registration-portal.png"), full_page=True)

    member = Member.objects.select_related("user", "country", "region").get(user__email="wanjiku.kamau@example.com")
    assert member.status == Member.Status.PENDING
    assert member.phone_number == "254712345678"
    assert member.id_number == "32145678"
    assert member.country_id == "KE"
    assert member.region.name == "Nairobi City"
    assert member.category.code == "full"
    assert member.user.check_password(NEW_PASSWORD)
    stored = {d.doc_type: d for d in Document.objects.filter(member=member)}
    assert sorted(stored) == ["certificate", "national_id", "passport_photo"]
    assert stored["national_id"].original_name == "national-id.pdf"
    assert all(d.status == Document.Status.PENDING and d.file.size == d.size > 0 for d in stored.values())


def test_mistakes_are_all_shown_at_once_and_typing_is_kept(page, reference_data, documents):
    page.goto("/register/")
    typed = fill_application(page, documents, id_number="", phone_number="12345", password2="Something-Else-2031")
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Submit application").click()

    assert navigation.value.status == 400
    summary = page.locator("#form-errors")
    expect(summary).to_contain_text("Please correct the 3 problems below.")
    expect(summary.get_by_role("listitem")).to_have_count(3)
    expect(summary).to_contain_text("ID or passport number: This field is required.")
    expect(summary).to_contain_text("Phone number: Enter a valid mobile number")
    expect(summary).to_contain_text("Confirm password: The two passwords differ.")
    expect(summary).to_contain_text("please choose your documents again")
    for label in ("ID or passport number", "Phone number", "Confirm password"):
        expect(page.get_by_label(label)).to_have_class(r"form-control is-invalid")
    expect(page.locator(".invalid-feedback")).to_have_count(3)

    # What was typed is still there (passwords and files excepted, as browsers and Django intend).
    for label, key in [
        ("First name", "first_name"),
        ("Other names", "other_names"),
        ("Last name", "last_name"),
        ("Email", "email"),
        ("Phone number", "phone_number"),
        ("Occupation", "occupation"),
    ]:
        expect(page.get_by_label(label)).to_have_value(typed[key])
    expect(page.get_by_label("Date of birth")).to_have_value(typed["date_of_birth"])
    expect(page.get_by_label("Membership category").locator("option:checked")).to_have_text("Full / Professional")
    expect(page.get_by_label("County / region").locator("option:checked")).to_have_text("Nairobi City")
    expect(page.get_by_role("textbox", name="Password", exact=True)).to_have_value("")

    assert not Member.objects.exists()

    # Correcting the mistakes (and choosing the files again) completes the application.
    page.get_by_label("ID or passport number").fill("32145678")
    page.get_by_label("Phone number").fill("+254 712 345 678")
    page.get_by_role("textbox", name="Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm password").fill(NEW_PASSWORD)
    page.get_by_label("National ID or passport copy").set_input_files(documents["national_id"])
    page.get_by_label("Passport photo").set_input_files(documents["passport_photo"])
    page.get_by_label("Academic or professional certificate").set_input_files(documents["certificate"])
    submit(page, page.get_by_role("button", name="Submit application"))
    assert page.url.endswith("/portal/"), page.url
    assert Member.objects.get().phone_number == "254712345678"
