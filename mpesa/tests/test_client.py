"""The client without a server: input checks, the payload it builds, token caching, and what it logs.

The outside world is replaced at one place, the ``requests.Session`` the client sends through.
"""

import base64
import json
import logging
import socket
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured

from mpesa.client import (
    BUY_GOODS,
    SANDBOX_PASSKEY,
    DarajaClient,
    StkPushRequest,
    clean_description,
    mask_phone,
)
from mpesa.config import get_client
from mpesa.errors import DarajaAuthError, DarajaRejected, DarajaUnavailable
from mpesa.result_codes import Outcome

SECRET = "consumer-secret-do-not-log"
PASSKEY = "passkey-do-not-log"
TOKEN = "c9SQxWWhmdVRlyh0zh8gZDTkubVF"
PHONE = "254708374149"


def _response(status, body):
    response = requests.Response()
    response.status_code = status
    if isinstance(body, str):
        body = body.encode()
    response._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response.encoding = "utf-8"
    return response


TOKEN_OK = (200, {"access_token": TOKEN, "expires_in": "3599"})
PUSH_OK = (
    200,
    {
        "MerchantRequestID": "2654-4b64-97ff-b827b542881d3130",
        "CheckoutRequestID": "ws_CO_1007202409152617172396192",
        "ResponseCode": "0",
        "ResponseDescription": "Success. Request accepted for processing",
        "CustomerMessage": "Success. Request accepted for processing",
    },
)


class FakeSession:
    """Answers from a script, in order, and remembers what was sent."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.sent = []

    def request(self, method, url, **kwargs):
        self.sent.append({"method": method, "url": url, **kwargs})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return _response(*answer)


class Clock:
    def __init__(self):
        self.now = datetime(2024, 7, 10, 6, 15, 26, tzinfo=timezone.utc)  # 09:15:26 in Nairobi

    def __call__(self):
        return self.now


def _client(*answers, **options):
    options.setdefault("clock", Clock())
    return DarajaClient(
        base_url="https://daraja.test/",
        consumer_key="key",
        consumer_secret=SECRET,
        shortcode=174379,
        passkey=PASSKEY,
        session=FakeSession(*answers),
        **options,
    )


def _push(**overrides):
    fields = {
        "phone": PHONE,
        "amount": 1500,
        "account_reference": "KMA-0042",
        "description": "Annual fee",
        "callback_url": "https://example.org/api/mpesa/callback/abc123/",
    }
    return StkPushRequest(**{**fields, **overrides})


def test_a_push_sends_the_documented_payload_as_json_with_a_bearer_token():
    client = _client(TOKEN_OK, PUSH_OK)
    response = client.stk_push(_push())

    assert response.checkout_request_id == "ws_CO_1007202409152617172396192"
    assert response.response_code == "0"
    oauth, push = client.session.sent
    assert oauth["method"] == "GET"
    assert oauth["url"] == "https://daraja.test/oauth/v1/generate"
    assert oauth["params"] == {"grant_type": "client_credentials"}
    assert oauth["auth"] == ("key", SECRET)
    assert push["method"] == "POST"
    assert push["url"] == "https://daraja.test/mpesa/stkpush/v1/processrequest"
    assert push["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert push["timeout"] == (5.0, 30.0)
    payload = push["json"]
    assert payload == {
        "BusinessShortCode": "174379",
        "Password": payload["Password"],
        "Timestamp": "20240710091526",
        "TransactionType": "CustomerPayBillOnline",
        "Amount": 1500,
        "PartyA": PHONE,
        "PartyB": "174379",
        "PhoneNumber": PHONE,
        "CallBackURL": "https://example.org/api/mpesa/callback/abc123/",
        "AccountReference": "KMA-0042",
        "TransactionDesc": "Annual fee",
    }
    assert base64.b64decode(payload["Password"]).decode() == f"174379{PASSKEY}20240710091526"


def test_a_till_sends_the_store_number_as_shortcode_and_the_till_as_party_b():
    client = _client(TOKEN_OK, PUSH_OK, transaction_type=BUY_GOODS, party_b="5123456")
    client.stk_push(_push())
    payload = client.session.sent[1]["json"]
    assert (payload["BusinessShortCode"], payload["PartyB"], payload["TransactionType"]) == (
        "174379",
        "5123456",
        "CustomerBuyGoodsOnline",
    )


@pytest.mark.parametrize(
    "phone", ["0708374149", "+254708374149", "25470837414", "2547083741490", "254808374149", 254708374149, ""]
)
def test_a_phone_not_in_international_form_is_refused_before_anything_is_sent(phone):
    client = _client()
    with pytest.raises(ValueError, match="Phone"):
        client.stk_push(_push(phone=phone))
    assert client.session.sent == []


def test_the_newer_2541_numbers_are_accepted():
    client = _client(TOKEN_OK, PUSH_OK)
    client.stk_push(_push(phone="254110000001"))
    assert client.session.sent[1]["json"]["PhoneNumber"] == "254110000001"


@pytest.mark.parametrize("amount", [1.0, 1500.5, Decimal("1500"), "1500", True, 0, -5, 250_001, None])
def test_an_amount_that_is_not_whole_positive_shillings_is_refused(amount):
    client = _client()
    with pytest.raises(ValueError, match="Amount"):
        client.stk_push(_push(amount=amount))
    assert client.session.sent == []


def test_the_largest_single_payment_is_allowed():
    client = _client(TOKEN_OK, PUSH_OK)
    client.stk_push(_push(amount=250_000))
    assert client.session.sent[1]["json"]["Amount"] == 250_000


@pytest.mark.parametrize("reference", ["MEMBERSHIP-042", "", "KMA#0042", "A@B", " leading", None])
def test_an_account_reference_that_daraja_would_choke_on_is_refused_not_cut(reference):
    with pytest.raises(ValueError, match="AccountReference"):
        _client().stk_push(_push(account_reference=reference))


def test_a_twelve_character_account_reference_is_fine():
    client = _client(TOKEN_OK, PUSH_OK)
    client.stk_push(_push(account_reference="KMA/2024-042"))
    assert client.session.sent[1]["json"]["AccountReference"] == "KMA/2024-042"


def test_a_long_description_is_cut_to_thirteen_characters():
    assert clean_description("Annual membership fee 2025") == "Annual member"
    assert clean_description("  Renewal   fee  ") == "Renewal fee"
    assert clean_description("") == "Payment"
    assert clean_description(None) == "Payment"


@pytest.mark.parametrize("url", ["https://example.org/cb /x", " https://example.org/cb", "example.org/cb", ""])
def test_a_callback_url_with_spaces_or_no_scheme_is_refused(url):
    with pytest.raises(ValueError, match="callback_url"):
        _client().stk_push(_push(callback_url=url))


@pytest.mark.parametrize("expires_in", ["3599", 3599, 3599.0])
def test_expires_in_may_be_a_string_or_a_number(expires_in):
    clock = Clock()
    client = _client((200, {"access_token": TOKEN, "expires_in": expires_in}), clock=clock)
    assert client.get_token() == TOKEN
    clock.now += timedelta(seconds=3538)
    assert client.get_token() == TOKEN
    assert len(client.session.sent) == 1


def test_a_token_is_refreshed_a_minute_before_it_expires():
    clock = Clock()
    client = _client(TOKEN_OK, (200, {"access_token": "second-token", "expires_in": 3599}), clock=clock)
    assert client.get_token() == TOKEN
    clock.now += timedelta(seconds=3539)
    assert client.get_token() == "second-token"
    assert len(client.session.sent) == 2


def test_the_token_cache_key_depends_on_base_url_and_consumer_key_but_does_not_spell_them_out():
    one = _client()
    other_key = DarajaClient(
        base_url="https://daraja.test", consumer_key="other", consumer_secret="s", shortcode=1, passkey="p"
    )
    other_url = DarajaClient(
        base_url="https://elsewhere.test", consumer_key="key", consumer_secret="s", shortcode=1, passkey="p"
    )
    assert len({one.token_cache_key, other_key.token_cache_key, other_url.token_cache_key}) == 3
    assert one.token_cache_key.startswith("mpesa:token:")
    assert "key" not in one.token_cache_key.removeprefix("mpesa:token:")


def test_two_clients_sharing_a_cache_share_the_token():
    first = _client(TOKEN_OK, PUSH_OK)
    second = _client(PUSH_OK, cache=first.cache)
    first.stk_push(_push())
    second.stk_push(_push())
    assert [sent["method"] for sent in second.session.sent] == ["POST"]


def test_an_oauth_refusal_with_an_empty_body_is_a_permanent_auth_error():
    with pytest.raises(DarajaAuthError) as caught:
        _client((400, b"")).get_token()
    assert caught.value.permanent
    assert caught.value.http_status == 400


def test_an_html_page_instead_of_a_token_is_transient():
    with pytest.raises(DarajaUnavailable) as caught:
        _client((200, "<!doctype html><html><body>Daraja portal</body></html>")).get_token()
    assert not caught.value.permanent


def test_a_push_answer_without_a_checkout_request_id_is_not_taken_as_accepted():
    with pytest.raises(DarajaUnavailable):
        _client(TOKEN_OK, (200, {"ResponseCode": "1", "ResponseDescription": "Hmm"})).stk_push(_push())


def test_a_query_answer_without_a_result_code_is_pending():
    client = _client(TOKEN_OK, (200, {"ResponseCode": "0", "ResponseDescription": "Accepted"}))
    result = client.stk_query("ws_CO_1")
    assert result.pending
    assert result.outcome is Outcome.PENDING
    assert result.result_code is None


def test_a_refused_connection_is_transient_and_certainly_not_processed():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = DarajaClient(
        base_url=f"http://127.0.0.1:{port}", consumer_key="k", consumer_secret="s", shortcode=1, passkey="p"
    )
    with pytest.raises(DarajaUnavailable) as caught:
        client.get_token()
    assert not caught.value.permanent
    assert not caught.value.maybe_processed


def test_a_read_timeout_may_have_reached_daraja():
    client = _client(TOKEN_OK, requests.ReadTimeout("read timed out"))
    with pytest.raises(DarajaUnavailable) as caught:
        client.stk_push(_push())
    assert type(caught.value).__name__ == "DarajaTimeout"
    assert caught.value.maybe_processed


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"response_type": "completed"}, "response_type"),
        ({"version": "v3"}, "version"),
        ({"confirmation_url": "https://example.org/mpesa/confirm"}, "mpesa"),
        ({"validation_url": "https://example.org/SAFARICOM/validate"}, "safaricom"),
        ({"validation_url": "https://example.org/c2b/query"}, "query"),
    ],
)
def test_c2b_registration_refuses_what_daraja_refuses(kwargs, match):
    arguments = {
        "confirmation_url": "https://example.org/c2b/confirm",
        "validation_url": "https://example.org/c2b/check",
    }
    client = _client()
    with pytest.raises(ValueError, match=match):
        client.register_c2b_urls(**{**arguments, **kwargs})
    assert client.session.sent == []


def test_phones_are_masked_in_the_middle():
    assert mask_phone("254708375678") == "2547****5678"
    assert mask_phone(254708375678) == "2547****5678"
    assert mask_phone("0712") == "****"
    assert mask_phone(None) == ""


def test_secrets_tokens_and_full_phone_numbers_never_reach_the_logs(caplog):
    caplog.set_level(logging.DEBUG)
    client = _client(
        TOKEN_OK,
        PUSH_OK,
        (500, {"requestId": "x", "errorCode": "500.001.1001", "errorMessage": "The transaction is being processed"}),
        (400, {"requestId": "y", "errorCode": "400.002.02", "errorMessage": "Bad Request - Invalid Amount"}),
    )
    client.stk_push(_push())
    client.stk_query("ws_CO_1007202409152617172396192")
    with pytest.raises(DarajaRejected):
        client.stk_push(_push())
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "2547****4149" in logged
    password = client.session.sent[1]["json"]["Password"]
    for secret in (SECRET, PASSKEY, TOKEN, PHONE, password):
        assert secret not in logged
    assert SECRET not in repr(client) and PASSKEY not in repr(client)


def test_the_simulator_environment_needs_no_credentials(settings):
    settings.MPESA_ENVIRONMENT = "simulator"
    settings.MPESA_BASE_URL = ""
    settings.MPESA_CONSUMER_KEY = settings.MPESA_CONSUMER_SECRET = settings.MPESA_PASSKEY = ""
    client = get_client()
    assert client.base_url == "http://127.0.0.1:8765"
    assert client.consumer_key == "simulator-consumer-key"
    assert client._consumer_secret == "simulator-consumer-secret"
    assert client._passkey == SANDBOX_PASSKEY
    assert client.shortcode == "174379"


@pytest.mark.parametrize(
    ("environment", "url"),
    [("sandbox", "https://sandbox.safaricom.co.ke"), ("production", "https://api.safaricom.co.ke")],
)
def test_the_environment_picks_safaricoms_base_url(settings, environment, url):
    settings.MPESA_ENVIRONMENT = environment
    settings.MPESA_BASE_URL = ""
    settings.MPESA_CONSUMER_KEY, settings.MPESA_CONSUMER_SECRET, settings.MPESA_PASSKEY = "k", "s", "p"
    assert get_client().base_url == url


def test_an_explicit_base_url_wins_over_the_environment(settings):
    settings.MPESA_ENVIRONMENT = "simulator"
    settings.MPESA_BASE_URL = "http://127.0.0.1:9999/"
    assert get_client().base_url == "http://127.0.0.1:9999"


def test_production_without_credentials_is_a_configuration_error(settings):
    settings.MPESA_ENVIRONMENT = "production"
    settings.MPESA_CONSUMER_KEY = settings.MPESA_CONSUMER_SECRET = settings.MPESA_PASSKEY = ""
    with pytest.raises(ImproperlyConfigured, match="MPESA_CONSUMER_KEY, MPESA_CONSUMER_SECRET, MPESA_PASSKEY"):
        get_client()


def test_an_unknown_environment_is_a_configuration_error(settings):
    settings.MPESA_ENVIRONMENT = "staging"
    settings.MPESA_BASE_URL = ""
    settings.MPESA_CONSUMER_KEY, settings.MPESA_CONSUMER_SECRET, settings.MPESA_PASSKEY = "k", "s", "p"
    with pytest.raises(ImproperlyConfigured, match="MPESA_ENVIRONMENT"):
        get_client()
