import pytest

from members.services import document_verify, member_approve


@pytest.fixture
def approved_alice(alice, staff_user):
    """Alice's application is approved (number issued); her registration fee is still due."""
    for document in alice.documents.all():
        document_verify(document=document, actor=staff_user)
    return member_approve(member=alice, actor=staff_user)
