"""A mobile client's whole journey through the API alone, over real HTTP, on PostgreSQL.

Sign up with documents -> staff review and approve -> log in -> pay the registration fee by M-Pesa ->
the Daraja simulator answers the phone and posts its callback -> the status says completed -> the
receipt PDF. Nothing here calls a service or touches the database directly except to read what the
server did; the staff side uses the staff endpoints with a staff token, as a back-office app would.
"""

import time

import pytest
import requests
from django.contrib.auth.models import Group

from accounts.roles import STAFF
from daraja_simulator import outcomes
from members.models import Member
from members.sample_files import sample_jpeg, sample_pdf
from payments.models import Payment
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

FILES = {"passport_photo": ("photo.jpg", sample_jpeg, "image/jpeg")}


def _document(doc_type: str):
    name, make, content_type = FILES.get(doc_type, (f"{doc_type}.pdf", sample_pdf, "application/pdf"))
    return (name, make(), content_type)


class Api:
    """A thin HTTP client: JSON in, JSON out, the bearer token when logged in."""

    def __init__(self, base_url: str):
        self.base = f"{base_url}/api"
        self.session = requests.Session()
        self.token = None

    def _headers(self):
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path, **kwargs):
        return self.session.get(f"{self.base}{path}", headers=self._headers(), timeout=30, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.session.post(f"{self.base}{path}", json=json, headers=self._headers(), timeout=30, **kwargs)

    def login(self, email, password=PASSWORD, **extra):
        response = self.post("/auth/login/", {"username": email, "password": password, **extra})
        assert response.status_code == 200, response.text
        self.token = response.json()["access"]


@pytest.fixture
def staff_app(live_server):
    """A back-office app logged in as a Staff user (with the second factor when the account has one)."""
    user = UserFactory(email="sam.staff@example.com", is_staff=True)
    user.groups.add(Group.objects.get(name=STAFF))
    api = Api(live_server.url)
    api.login(user.email, **_second_factor(user))
    return api


def _second_factor(user) -> dict:
    """The current TOTP code of the user's confirmed device, as the staff member's authenticator shows it."""
    try:
        from django_otp.oath import totp
        from django_otp.plugins.otp_totp.models import TOTPDevice
    except ImportError:
        return {}
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=True)
    return {"otp": f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"}


def test_register_approve_pay_and_download_the_receipt(reference_data, daraja_live, live_server, staff_app):
    app = Api(live_server.url)

    # What the sign-up screen shows: categories with their fees and documents, countries, a country's regions.
    categories = app.get("/categories/").json()
    category = next(c for c in categories if c["code"] == "full")
    regions = app.get("/countries/KE/regions/").json()
    nairobi = next(r for r in regions if r["name"] == "Nairobi City")

    form = {
        "email": "wanjiru@example.com",
        "password": PASSWORD,
        "first_name": "Wanjiru",
        "last_name": "Kamau",
        "id_type": "national_id",
        "id_number": "31234567",
        "date_of_birth": "1994-03-02",
        "gender": "female",
        "phone_number": "0712 345 000",  # typed as people do; the simulator approves prompts to ...000
        "country": "KE",
        "region": nairobi["code"],
        "category": category["code"],
        "physical_address": "Moi Avenue, Nairobi",
        "accept_privacy_notice": "true",
    }
    files = {f"document_{doc}": _document(doc) for doc in category["required_documents"]}
    response = app.session.post(f"{app.base}/members/register/", data=form, files=files, timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending"
    assert response.json()["phone_number"] == outcomes.PHONE_SUCCESS
    member = Member.objects.get(user__email="wanjiru@example.com")

    # Staff find the application, verify each document and approve it.
    listed = staff_app.get("/staff/members/", params={"search": "wanjiru"}).json()
    row = next(r for r in listed["results"] if r["email"] == "wanjiru@example.com")
    detail = staff_app.get(f"/staff/members/{row['id']}/").json()
    assert {d["doc_type"] for d in detail["documents"]} == set(category["required_documents"])
    for document in detail["documents"]:
        verified = staff_app.post(f"/staff/documents/{document['id']}/verify/")
        assert verified.status_code == 200, verified.text
    approved = staff_app.post(f"/staff/members/{row['id']}/approve/")
    assert approved.status_code == 200, approved.text
    number = approved.json()["membership_number"]
    assert number.startswith("KTS-")

    # The member logs in on the phone and pays what is due.
    app.login("wanjiru@example.com")
    profile = app.get("/members/profile/").json()
    assert profile["membership_number"] == number
    response = app.post(
        "/payments/mpesa/initiate/",
        {"amount": category["registration_fee"], "phone_number": "0712345000", "payment_type": "registration"},
    )
    assert response.status_code == 201, response.text
    reference = response.json()["payment_reference"]

    # The simulator's phone approves and Daraja posts the result to our callback URL; the app polls.
    daraja_live.wait_for_deliveries(1, timeout=15)
    status = _poll_until_final(app, reference)
    assert status["status"] == "completed", status
    assert status["mpesa_receipt_number"]
    assert status["amount"] == category["registration_fee"]

    receipt = app.get(f"/payments/{reference}/receipt/")
    assert receipt.status_code == 200
    assert receipt.headers["Content-Type"] == "application/pdf"
    assert receipt.content.startswith(b"%PDF")
    assert "attachment" in receipt.headers["Content-Disposition"]

    history = app.get("/payments/history/").json()
    assert [p["payment_reference"] for p in history["results"]] == [reference]
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE
    assert Payment.objects.get(reference=reference).receipt_number


def _poll_until_final(app: Api, reference: str, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = app.get(f"/payments/{reference}/status/").json()
        if body["status"] != "pending" or time.monotonic() > deadline:
            return body
        time.sleep(0.2)
