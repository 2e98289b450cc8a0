import pytest

from mpesa.errors import (
    DarajaAuthError,
    DarajaError,
    DarajaRejected,
    DarajaSubscriberBusy,
    DarajaTimeout,
    DarajaTokenRejected,
    DarajaUnavailable,
    error_from_response,
)

LOCKED = "Unable to lock subscriber, a transaction is already in process for the current subscriber"
NO_PRODUCT = "Error Occurred - Invalid Access Token - Invalid API call as no apiproduct match found"


def _envelope(code, message):
    return {"requestId": "1c5b-4ba8-815c-ac45c57a3db01495926", "errorCode": code, "errorMessage": message}


@pytest.mark.parametrize(
    ("status", "code", "message", "error_class", "permanent"),
    [
        (400, "400.002.02", "Bad Request - Invalid PhoneNumber", DarajaRejected, True),
        (400, "400.002.05", "Invalid Request Payload", DarajaRejected, True),
        (404, "404.001.01", "Resource not found", DarajaRejected, True),
        (405, "405.001", "Method Not Allowed", DarajaRejected, True),
        (400, "400.008.01", "Invalid Authentication passed", DarajaAuthError, True),
        (400, "400.008.02", "Invalid grant type passed", DarajaAuthError, True),
        (404, "404.001.03", "Invalid Access Token", DarajaTokenRejected, True),
        (400, "400.003.01", "Invalid Access Token", DarajaTokenRejected, True),
        (401, "401.003.01", NO_PRODUCT, DarajaTokenRejected, True),
        (500, "500.001.1001", "Wrong credentials", DarajaRejected, True),
        (500, "500.001.1001", "[MerchantValidate] - Wrong credentials", DarajaRejected, True),
        (500, "500.001.1001", "Merchant does not exist", DarajaRejected, True),
        (500, "500.001.1001", LOCKED, DarajaSubscriberBusy, False),
        (500, "500.001.1001", "The transaction is being processed", DarajaUnavailable, False),
        (500, "500.001.1001", "The transaction does not Exist", DarajaUnavailable, False),
        (500, "500.003.02", "Error Occurred: Spike Arrest Violation", DarajaUnavailable, False),
        (500, "500.003.02", "System is busy. Please try again in few minutes.", DarajaUnavailable, False),
        (500, "500.003.03", "Quota Violation", DarajaUnavailable, False),
        (500, "500.003.1001", "Internal Server Error", DarajaUnavailable, False),
        (500, "500.003.1001", "Urls are already registered", DarajaRejected, True),
    ],
)
def test_daraja_error_envelopes_map_to_the_error_table(status, code, message, error_class, permanent):
    error = error_from_response(status, _envelope(code, message))
    assert type(error) is error_class
    assert error.permanent is permanent
    assert error.code == code
    assert error.message == message
    assert error.http_status == status
    assert error.request_id == "1c5b-4ba8-815c-ac45c57a3db01495926"


def test_a_locked_subscriber_asks_for_a_minutes_wait():
    error = error_from_response(500, _envelope("500.001.1001", "Unable to lock subscriber, a transaction is ..."))
    assert error.retry_after_seconds == 60


@pytest.mark.parametrize(
    ("status", "body", "text", "error_class", "permanent"),
    [
        (502, None, "<html><body>Bad Gateway</body></html>", DarajaUnavailable, False),
        (503, None, "", DarajaUnavailable, False),
        (429, None, "slow down", DarajaUnavailable, False),
        (400, None, "", DarajaRejected, True),
        (404, None, "<html>Not Found</html>", DarajaRejected, True),
        (401, None, "", DarajaTokenRejected, True),
        (404, None, "404.001.03 Invalid Access Token", DarajaTokenRejected, True),
        (200, None, "<!doctype html><html>Apigee portal</html>", DarajaUnavailable, False),
        (500, {"Envelope": {"Body": {"Fault": {"faultstring": "oops"}}}}, "{...}", DarajaUnavailable, False),
        (400, ["not", "an", "object"], "[...]", DarajaRejected, True),
        (418, {"errorCode": "999.999.99", "errorMessage": "Never documented"}, "", DarajaRejected, True),
        (500, {"errorCode": "500.999.99", "errorMessage": "Never documented"}, "", DarajaUnavailable, False),
    ],
)
def test_bodies_that_are_not_daraja_shaped_fall_back_on_the_http_status(status, body, text, error_class, permanent):
    error = error_from_response(status, body, text)
    assert type(error) is error_class
    assert error.permanent is permanent
    assert error.http_status == status
    assert error.code


def test_a_non_json_body_is_quoted_briefly_in_the_message():
    error = error_from_response(502, None, "<html>\n\n" + "x" * 500)
    assert error.code == "502"
    assert "<html> xxx" in error.message
    assert len(error.message) < 200


def test_timeouts_are_transient_unavailability():
    assert issubclass(DarajaTimeout, DarajaUnavailable)
    assert DarajaTimeout("slow").permanent is False


def test_every_error_says_whether_it_is_permanent():
    for error_class in (DarajaRejected, DarajaAuthError, DarajaTokenRejected):
        assert error_class("x").permanent is True
    for error_class in (DarajaUnavailable, DarajaTimeout, DarajaSubscriberBusy, DarajaError):
        assert error_class("x").permanent is False
    assert DarajaUnavailable("x", permanent=True).permanent is True


def test_the_error_reads_as_code_and_message():
    assert str(error_from_response(400, _envelope("400.002.02", "Bad Request - Invalid Amount"))) == (
        "400.002.02: Bad Request - Invalid Amount"
    )
    assert str(DarajaTimeout("Daraja did not answer in time")) == "Daraja did not answer in time"
