"""POST /api/members/register/ refuses active content, polyglots and files that cost more to check than the
bounds allow, as the web does, and stores nothing (issue 13, findings 1 and 16)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from members.tests.test_hostile_uploads import HOSTILE, HOSTILE_IDS

from .test_member_endpoints import assert_nothing_stored, register, registration

pytestmark = pytest.mark.django_db


@pytest.mark.security_check(7)
@pytest.mark.security_check(17)
@pytest.mark.parametrize(
    ("name", "content", "doc_type", "overrides", "message"), [c[1:] for c in HOSTILE], ids=HOSTILE_IDS
)
def test_the_api_refuses_a_hostile_document_and_stores_nothing(
    client, reference_data, settings, name, content, doc_type, overrides, message
):
    for key, value in overrides.items():
        setattr(settings, key, value)
    response = register(client, registration(**{f"document_{doc_type}": SimpleUploadedFile(name, content)}))
    assert response.status_code == 400, response.content
    field_errors = response.json()["fields"] if "fields" in response.json() else response.json()
    assert any(message in text for text in _texts(field_errors)), response.json()
    assert_nothing_stored(settings)


def _texts(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
