"""Schemathesis fuzzes every operation of /api/schema/ in-process, as an active member and as an Admin.

Hypothesis generates valid and invalid requests from the published OpenAPI description; each answer must
not be a server error, and a documented answer must match its schema (a client generated from the schema
must be able to read it). The request goes through the whole WSGI stack, middleware included, against
the test database and the local Daraja simulator. Throttles are lifted so fuzzing is not answered by 429s.
"""

import datetime

import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.checks import not_a_server_error, response_schema_conformance

from accounts.roles import ADMIN
from config.wsgi import application
from members.models import Member
from tests.factories import MemberFactory, UserFactory
from tests.two_factor import api_access_token

MAX_EXAMPLES = 25


# Loaded when the tests are collected: drawing the schema needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def api_world(db, reference_data, daraja, settings, monkeypatch):
    rates = SimpleRateThrottle.THROTTLE_RATES
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", dict.fromkeys(rates, "100000/min"))
    settings.MPESA_PROMPT_COOLDOWN_SECONDS = 0
    settings.MPESA_PROMPTS_PER_PHONE = settings.MPESA_PROMPTS_PER_MEMBER = 0
    cache.clear()
    # Requests go straight to the WSGI application, not through Django's test client: like the client, keep
    # the end of a request from closing the connection that holds the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def member_token(api_world):
    """An active member whose renewal is due."""
    today = timezone.localdate()
    member = MemberFactory(
        documents=[],
        status=Member.Status.ACTIVE,
        membership_number="KTS-2026-0042",
        activated_at=timezone.now(),
        registration_paid_at=timezone.now(),
        period_start=today - datetime.timedelta(days=360),
        period_end=today + datetime.timedelta(days=5),
    )
    return str(RefreshToken.for_user(member.user).access_token)


@pytest.fixture
def admin_token(api_world):
    """An Admin, who reaches the staff endpoints; an applicant exists for them to act on."""
    MemberFactory(documents=[])
    user = UserFactory(email="fuzz.admin@example.com", is_staff=True)
    user.groups.add(Group.objects.get(name=ADMIN))
    return api_access_token(user)


FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def call_and_check(case, token):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        checks=[not_a_server_error, response_schema_conformance],
    )


@schema.parametrize()
@FUZZ
def test_as_a_member(case, member_token):
    call_and_check(case, member_token)


@schema.parametrize()
@FUZZ
def test_as_an_admin(case, admin_token):
    call_and_check(case, admin_token)
