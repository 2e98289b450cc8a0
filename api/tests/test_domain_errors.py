"""A service's refusal (core.exceptions.DomainError) is answered by the exception handler, once, for every view."""

from api.errors import api_exception_handler
from core.exceptions import DomainError
from members.dues import PaymentError
from members.services import MembershipError
from payments.services import PaymentThrottled


def answer(error):
    return api_exception_handler(error, {})


def test_a_membership_refusal_is_a_409_conflict():
    response = answer(MembershipError("This application is rejected; only pending ones can be approved."))
    assert response.status_code == 409
    assert response.data == {
        "error": {
            "status": 409,
            "code": "conflict",
            "message": "This application is rejected; only pending ones can be approved.",
        }
    }


def test_a_refusal_carries_its_own_status_code_and_extra():
    response = answer(DomainError("Not yet.", status_code=400, code="refused", extra={"open": ["id_copy"]}))
    assert response.status_code == 400
    error = response.data["error"]
    assert error == {"status": 400, "code": "refused", "message": "Not yet.", "extra": {"open": ["id_copy"]}}


def test_a_payment_refusal_is_a_400():
    response = answer(PaymentError("Nothing is due on this membership right now."))
    assert (response.status_code, response.data["error"]["code"]) == (400, "invalid")


def test_too_many_prompts_is_a_429_with_retry_after():
    response = answer(PaymentThrottled("2 M-Pesa payment prompts in a minute.", retry_after=41.2))
    assert response.status_code == 429
    assert response["Retry-After"] == "42"
    assert response.data["error"]["retry_after_seconds"] == 42
    assert response.data["error"]["code"] == "throttled"
