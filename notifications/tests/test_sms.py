import json
import logging
from unittest import mock

import pytest
import requests

from notifications.sms import (
    LIVE_URL,
    SANDBOX_URL,
    AfricasTalkingSmsBackend,
    ConsoleSmsBackend,
    LocmemSmsBackend,
    SmsError,
    SmsResult,
    default_sms_backend,
    get_sms_backend,
    outbox,
)

API_KEY = "atsk_0123456789abcdef0123456789abcdef"


def at_response(status_code=201, body=None, *, text=None):
    """A requests.Response as Africa's Talking sends it."""
    response = requests.Response()
    response.status_code = status_code
    response._content = (text if text is not None else json.dumps(body)).encode()
    response.headers["Content-Type"] = "application/json" if text is None else "text/plain"
    return response


def recipient(status_code=101, status="Success", **extra):
    return {
        "SMSMessageData": {
            "Message": "Sent to 1/1 Total Cost: KES 0.8000",
            "Recipients": [
                {
                    "statusCode": status_code,
                    "number": "+254712345678",
                    "status": status,
                    "cost": "KES 0.8000",
                    "messageId": "ATXid_4c6c2b7b1a",
                    **extra,
                }
            ],
        }
    }


@pytest.fixture
def post():
    """The edge we cannot reach: Africa's Talking's HTTP API."""
    with mock.patch("notifications.sms.requests.post", return_value=at_response(201, recipient())) as patched:
        yield patched


def backend(**overrides):
    return AfricasTalkingSmsBackend(**{"api_key": API_KEY, "username": "kaldatech", "sender_id": "", **overrides})


def test_it_posts_a_form_to_the_live_endpoint_with_the_key_in_a_header(post):
    result = backend(sender_id="KALDATECH").send("254712345678", "Payment received.")
    assert result == SmsResult(provider_message_id="ATXid_4c6c2b7b1a", cost="KES 0.8000")
    post.assert_called_once_with(
        LIVE_URL,
        data={"username": "kaldatech", "to": "+254712345678", "message": "Payment received.", "from": "KALDATECH"},
        headers={"apiKey": API_KEY, "Accept": "application/json"},
        timeout=(5, 20),
    )


def test_the_sandbox_username_selects_the_sandbox_host(post):
    backend(username="sandbox").send("+254712345678", "Hi")
    url = post.call_args.args[0]
    assert url == SANDBOX_URL == "https://api.sandbox.africastalking.com/version1/messaging"
    assert post.call_args.kwargs["data"]["to"] == "+254712345678"


def test_without_a_sender_id_it_sends_no_from_field(post):
    backend().send("254712345678", "Hi")
    assert "from" not in post.call_args.kwargs["data"]


def test_it_reads_its_credentials_from_settings(post, settings):
    settings.SMS_API_KEY = API_KEY
    settings.SMS_USERNAME = "sandbox"
    settings.SMS_SENDER_ID = "KALDATECH"
    AfricasTalkingSmsBackend().send("254712345678", "Hi")
    assert post.call_args.args[0] == SANDBOX_URL
    assert post.call_args.kwargs["headers"]["apiKey"] == API_KEY
    assert post.call_args.kwargs["data"]["from"] == "KALDATECH"


@pytest.mark.parametrize(
    ("code", "status"), [(100, "Processed"), (101, "Success"), (102, "Queued"), ("101", "Success")]
)
def test_processed_sent_and_queued_count_as_sent(code, status, post):
    post.return_value = at_response(201, recipient(status_code=code, status=status))
    assert backend().send("254712345678", "Hi").provider_message_id == "ATXid_4c6c2b7b1a"


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (401, "RiskHold"),
        (402, "InvalidSenderId"),
        (403, "InvalidPhoneNumber"),
        (404, "UnsupportedNumberType"),
        (405, "InsufficientBalance"),
        (406, "UserInBlacklist"),
        (407, "CouldNotRoute"),
        (409, "DoNotDisturbRejection"),
    ],
)
def test_a_refused_recipient_is_a_permanent_failure(code, name, post):
    post.return_value = at_response(201, recipient(status_code=code, status=name, messageId="None"))
    with pytest.raises(SmsError) as raised:
        backend().send("254712345678", "Hi")
    assert raised.value.permanent is True
    assert str(raised.value) == f"Africa's Talking did not send the SMS: {code} {name}."


@pytest.mark.parametrize(
    ("code", "name"), [(500, "InternalServerError"), (501, "GatewayError"), (502, "RejectedByGateway")]
)
def test_a_gateway_error_for_the_recipient_is_worth_retrying(code, name, post):
    post.return_value = at_response(201, recipient(status_code=code, status=name))
    with pytest.raises(SmsError) as raised:
        backend().send("254712345678", "Hi")
    assert raised.value.permanent is False
    assert name in str(raised.value)


def test_an_unlisted_status_code_is_reported_and_not_retried(post):
    post.return_value = at_response(201, recipient(status_code=499, status="SomethingNew"))
    with pytest.raises(SmsError, match="499 SomethingNew") as raised:
        backend().send("254712345678", "Hi")
    assert raised.value.permanent is True


def test_an_answer_with_no_recipients_is_a_permanent_failure(post):
    post.return_value = at_response(201, {"SMSMessageData": {"Message": "InvalidSenderId", "Recipients": []}})
    with pytest.raises(SmsError, match="accepted no recipient: InvalidSenderId") as raised:
        backend().send("254712345678", "Hi")
    assert raised.value.permanent is True


@pytest.mark.parametrize(
    ("status_code", "permanent", "words"),
    [
        (401, True, "refused the credentials"),
        (403, True, "refused the credentials"),
        (400, True, "rejected the request (HTTP 400): Invalid phone number"),
        (429, False, "unavailable (HTTP 429)"),
        (500, False, "unavailable (HTTP 500)"),
        (503, False, "unavailable (HTTP 503)"),
    ],
)
def test_http_errors_are_sorted_into_retry_or_give_up(status_code, permanent, words, post):
    post.return_value = at_response(status_code, text="Invalid phone number")
    with pytest.raises(SmsError) as raised:
        backend().send("254712345678", "Hi")
    assert words in str(raised.value)
    assert raised.value.permanent is permanent


@pytest.mark.parametrize(
    "error", [requests.ConnectTimeout("connect"), requests.ReadTimeout("read"), requests.ConnectionError("reset")]
)
def test_timeouts_and_connection_errors_are_worth_retrying(error, post):
    post.side_effect = error
    with pytest.raises(SmsError) as raised:
        backend().send("254712345678", "Hi")
    assert raised.value.permanent is False


def test_an_answer_that_is_not_json_is_worth_retrying(post):
    post.return_value = at_response(200, text="<html>Bad gateway</html>")
    with pytest.raises(SmsError, match="not JSON") as raised:
        backend().send("254712345678", "Hi")
    assert raised.value.permanent is False


def test_missing_credentials_fail_permanently_without_a_request(post):
    with pytest.raises(SmsError, match="set SMS_API_KEY and SMS_USERNAME") as raised:
        backend(api_key="").send("254712345678", "Hi")
    assert raised.value.permanent is True
    post.assert_not_called()


def test_the_api_key_never_reaches_errors_or_logs(post, caplog):
    post.return_value = at_response(400, text=f"Bad request for key {API_KEY}")
    with caplog.at_level(logging.DEBUG), pytest.raises(SmsError) as raised:
        backend().send("254712345678", "Hi")
    post.return_value = at_response(201, recipient())
    with caplog.at_level(logging.DEBUG):
        backend().send("254712345678", "Hi")
    assert API_KEY not in str(raised.value)
    assert "[redacted]" in str(raised.value)
    assert API_KEY not in caplog.text
    assert API_KEY not in repr(backend())
    assert "254712345678" not in caplog.text
    assert "2547****5678" in caplog.text


# --- Choosing a backend; the development backends --------------------------------------------------------


def test_the_default_is_africas_talking_only_when_both_credentials_are_set(settings):
    settings.SMS_API_KEY, settings.SMS_USERNAME = API_KEY, ""
    assert default_sms_backend() == "notifications.sms.ConsoleSmsBackend"
    settings.SMS_USERNAME = "kaldatech"
    assert default_sms_backend() == "notifications.sms.AfricasTalkingSmsBackend"


def test_the_sms_backend_setting_picks_the_class(settings):
    settings.SMS_BACKEND = "notifications.sms.ConsoleSmsBackend"
    assert isinstance(get_sms_backend(), ConsoleSmsBackend)
    settings.SMS_BACKEND = ""
    assert isinstance(get_sms_backend(), ConsoleSmsBackend)  # no credentials in tests


def test_the_console_backend_prints_and_logs_the_message_with_the_number_masked(capsys, caplog):
    with caplog.at_level(logging.INFO, logger="notifications.sms"):
        result = ConsoleSmsBackend().send("254712345678", "Kalda-Tech Society: KES 1,000 received.")
    printed = capsys.readouterr().out
    assert "SMS to: 2547****5678" in printed
    assert "Kalda-Tech Society: KES 1,000 received." in printed
    assert "2547****5678" in caplog.text
    assert "254712345678" not in printed + caplog.text
    assert result.provider_message_id.startswith("console-")


def test_the_locmem_backend_keeps_messages_in_the_outbox():
    LocmemSmsBackend().send("254712345678", "Hi")
    assert [(sent.to, sent.message) for sent in outbox] == [("254712345678", "Hi")]
