"""Shared by the API tests: fresh throttle counters and an active member whose renewal is due."""

import datetime

import pytest
from django.core.cache import cache
from django.utils import timezone

from members.models import Member, MembershipCategory
from tests.factories import MemberFactory


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()  # throttle counters live in the cache
    yield
    cache.clear()


@pytest.fixture
def member(reference_data):
    """An active member whose renewal of KES 1,000 is due: the brief's initiate example fits them."""
    today = timezone.localdate()
    category = MembershipCategory.objects.get(code="student")
    category.renewal_fee = 1000
    category.save()
    return MemberFactory(
        documents=[],
        user__email="member@example.com",
        category=category,
        status=Member.Status.ACTIVE,
        membership_number="KTS-2026-0001",
        activated_at=timezone.now(),
        registration_paid_at=timezone.now(),
        period_start=today - datetime.timedelta(days=360),
        period_end=today + datetime.timedelta(days=5),
        phone_number="254712345678",
        physical_address="Old address",
    )
