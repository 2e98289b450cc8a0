"""Helpers for tests of security check 1 (one member never reaches another's things).

A refusal proves nothing unless the thing asked for exists and belongs to the other member, and nothing of
theirs comes back: `their_object` pins the first, `assert_nothing_of` the second, `row_of` lets a test show
a refused write changed nothing.
"""

from __future__ import annotations

from django.db import models


def body_of(response) -> bytes:
    """The whole body, streamed or not (a file answer is streamed)."""
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def identifiers(member) -> list[str]:
    """What would show that an answer is about this member: contact details, numbers, the certificate link."""
    values = [
        member.user.email,
        member.phone_number,
        member.id_number,
        member.membership_number,
        member.verification_token,
        member.full_name if len(member.full_name) > 6 else "",
    ]
    return [str(value) for value in values if value]


def assert_nothing_of(member, response, *extra: str) -> None:
    """Nothing identifying `member` (or the `extra` values: their references, receipt numbers...) in the body,
    and no file: a refusal that still carries the data is no refusal."""
    body = body_of(response)
    text = body.decode("utf-8", "replace").lower()
    leaked = [value for value in [*identifiers(member), *extra] if value and str(value).lower() in text]
    assert not leaked, f"the {response.status_code} answer shows {leaked}"
    assert not body.startswith(b"%PDF") and b"\x00" not in body, f"the {response.status_code} answer is a file"
    assert "X-Accel-Redirect" not in response, "nginx would send the file anyway"


def their_object(model: type[models.Model], pk, **owner) -> models.Model:
    """The object a refusal is about, re-read: it exists, and it is the other member's (`owner` lookups)."""
    obj = model._default_manager.filter(pk=pk, **owner).first()
    assert obj is not None, f"{model.__name__} {pk} with {owner} does not exist: the refusal would prove nothing"
    return obj


def row_of(obj: models.Model) -> dict:
    """Every stored column of the object, to compare before and after a refused write."""
    return type(obj)._default_manager.filter(pk=obj.pk).values().get()
