"""The Daraja client over real HTTP against the in-process Daraja simulator (daraja.md 12.11).

Nothing is patched: the client talks to ``daraja_simulator`` on a local port, and the simulator's own
controls (its clock, fault injection, explicit resolution) script what Daraja does.
"""

import json
import socket
import threading
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mpesa.callbacks import parse_stk_callback
from mpesa.client import DarajaClient, MemoryCache, StkPushRequest
from mpesa.config import get_client
from mpesa.errors import (
    DarajaAuthError,
    DarajaRejected,
    DarajaSubscriberBusy,
    DarajaTimeout,
    DarajaTokenRejected,
    DarajaUnavailable,
)
from mpesa.result_codes import Outcome

daraja_simulator = pytest.importorskip("daraja_simulator.server")
outcomes = pytest.importorskip("daraja_simulator.outcomes")

Simulator = daraja_simulator.Simulator
SIM_KEY = "simulator-consumer-key"
SIM_SECRET = "simulator-consumer-secret"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.server.bodies.append(self.rfile.read(length))
        payload = b'{"ResultCode": 0, "ResultDesc": "Accepted"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def callback_receiver():
    """A stand-in for our callback view that keeps the raw bodies the simulator posts."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.bodies = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/api/payments/callback/abc123/"
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def nowhere_url():
    """A callback URL nothing listens on: deliveries fail fast, which these tests do not care about."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/payments/callback/"


@pytest.fixture
def sim():
    simulator = Simulator(host="127.0.0.1", port=0, callback_delay=0, seed=7)
    simulator.start()
    yield simulator
    simulator.stop()


def _client(sim, **options):
    settings = {
        "base_url": sim.base_url,
        "consumer_key": SIM_KEY,
        "consumer_secret": SIM_SECRET,
        "shortcode": "174379",
        "passkey": SANDBOX_PASSKEY,
        "cache": MemoryCache(),
        "timeout": (2, 5),
        **options,
    }
    return DarajaClient(**settings)


@pytest.fixture
def client(sim):
    return _client(sim)


@pytest.fixture
def push(nowhere_url):
    def build(phone=outcomes.PHONE_SUCCESS, amount=1500, callback_url=nowhere_url, reference="KMA-0042"):
        return StkPushRequest(
            phone=phone,
            amount=amount,
            account_reference=reference,
            description="Membership fee",
            callback_url=callback_url,
        )

    return build


def _calls(sim, endpoint):
    return [request for request in sim.requests if request["endpoint"] == endpoint]


# --- OAuth -------------------------------------------------------------------------------------------


def test_two_pushes_need_only_one_oauth_call(sim, client, push):
    first = client.stk_push(push(outcomes.PHONE_SUCCESS))
    second = client.stk_push(push(outcomes.PHONE_SUCCESS_01))
    assert first.checkout_request_id != second.checkout_request_id
    assert len(_calls(sim, "oauth")) == 1
    assert [call["status"] for call in _calls(sim, "stkpush")] == [200, 200]


@pytest.mark.django_db
def test_clients_built_from_settings_share_the_token_through_the_django_cache(sim, settings, push):
    from django.core.cache import cache

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.MPESA_ENVIRONMENT = "simulator"
    settings.MPESA_BASE_URL = sim.base_url
    settings.MPESA_CONSUMER_KEY = settings.MPESA_CONSUMER_SECRET = settings.MPESA_PASSKEY = ""
    cache.clear()

    get_client().stk_push(push(outcomes.PHONE_SUCCESS))
    get_client().stk_push(push(outcomes.PHONE_SUCCESS_01))

    assert len(_calls(sim, "oauth")) == 1
    assert cache.get(get_client().token_cache_key)["access_token"]
    cache.clear()


def test_a_token_that_expired_mid_flow_is_refreshed_once_and_the_push_retried(sim, client, push):
    client.stk_push(push(outcomes.PHONE_SUCCESS))
    sim.advance_clock(3600)  # the simulator's token is dead; the client's cache still believes in it

    response = client.stk_push(push(outcomes.PHONE_SUCCESS_01))

    assert response.response_code == "0"
    assert len(_calls(sim, "oauth")) == 2
    assert [call["status"] for call in _calls(sim, "stkpush")] == [200, 404, 200]


def test_a_query_after_token_expiry_is_refreshed_and_retried_too(sim, client, push):
    accepted = client.stk_push(push(outcomes.PHONE_CANCELLED))
    sim.advance_clock(3600)

    result = client.stk_query(accepted.checkout_request_id)

    assert result.result_code == "1032"
    assert [call["status"] for call in _calls(sim, "stkquery")] == [404, 200]


def test_a_token_revoked_by_another_worker_is_replaced_once(sim, push):
    sim.configure(token_revokes_previous=True)
    worker_a, worker_b = _client(sim), _client(sim)  # separate caches, same app
    worker_a.get_token()
    worker_b.get_token()  # revokes worker A's token

    worker_a.stk_push(push(outcomes.PHONE_SUCCESS))

    assert len(_calls(sim, "oauth")) == 3
    assert [call["status"] for call in _calls(sim, "stkpush")] == [404, 200]


def test_a_token_daraja_keeps_refusing_fails_permanently_after_one_retry(sim, client, push):
    sim.configure(app_lacks_product=True)

    with pytest.raises(DarajaTokenRejected) as caught:
        client.stk_push(push())

    assert caught.value.permanent
    assert caught.value.code == "401.003.01"
    assert len(_calls(sim, "oauth")) == 2
    assert len(_calls(sim, "stkpush")) == 2


@pytest.mark.parametrize("failure_body", ["envelope", "empty"])
def test_a_wrong_consumer_secret_is_a_permanent_auth_error(sim, failure_body):
    sim.configure(oauth_failure_body=failure_body)
    with pytest.raises(DarajaAuthError) as caught:
        _client(sim, consumer_secret="wrong").get_token()
    assert caught.value.permanent
    assert caught.value.http_status == 400


def test_expires_in_as_a_number_is_accepted(sim):
    sim.configure(expires_in_as_number=True)
    client = _client(sim)
    assert client.get_token() == client.get_token()
    assert len(_calls(sim, "oauth")) == 1


def test_a_short_lived_token_is_not_cached_past_its_margin(sim):
    sim.configure(token_ttl=30)  # under the 60 s margin: use it once, never cache it
    client = _client(sim)
    client.get_token()
    client.get_token()
    assert len(_calls(sim, "oauth")) == 2


# --- STK push ----------------------------------------------------------------------------------------


def test_a_push_is_accepted_with_daraja_shaped_ids(sim, client, push):
    response = client.stk_push(push(outcomes.PHONE_SUCCESS, amount=1500))

    assert response.response_code == "0"
    assert response.response_description == "Success. Request accepted for processing"
    assert response.customer_message
    assert response.checkout_request_id.startswith("ws_CO_")
    assert response.merchant_request_id
    transaction = sim.transaction(response.checkout_request_id)
    assert transaction["amount"] == 1500
    assert transaction["phone_number"] == outcomes.PHONE_SUCCESS
    assert transaction["account_reference"] == "KMA-0042"


def test_a_2541_number_can_pay(sim, client, push):
    assert client.stk_push(push(outcomes.PHONE_SUCCESS_01)).response_code == "0"


def test_a_long_description_is_cut_so_the_simulator_accepts_it(sim, client, nowhere_url):
    response = client.stk_push(
        StkPushRequest(
            phone=outcomes.PHONE_SUCCESS,
            amount=10,
            account_reference="KMA-0042",
            description="Annual membership subscription 2025",
            callback_url=nowhere_url,
        )
    )
    assert sim.transaction(response.checkout_request_id)["transaction_desc"] == "Annual member"


@pytest.mark.parametrize(
    ("sim_options", "client_options", "push_options", "code", "message"),
    [
        ({"strict_callback_url": True}, {}, {}, "400.002.02", "Bad Request - Invalid CallBackURL"),
        ({"max_amount": 1000}, {}, {"amount": 5000}, "400.002.02", "Bad Request - Invalid Amount"),
        ({}, {"passkey": "not-the-passkey"}, {}, "500.001.1001", "Wrong credentials"),
        ({}, {"shortcode": "600999"}, {}, "500.001.1001", "Merchant does not exist"),
    ],
)
def test_a_push_daraja_refuses_is_a_permanent_error(
    sim, push, sim_options, client_options, push_options, code, message
):
    sim.configure(**sim_options)
    with pytest.raises(DarajaRejected) as caught:
        _client(sim, **client_options).stk_push(push(**push_options))
    assert caught.value.permanent
    assert caught.value.code == code
    assert caught.value.message == message
    assert sim.transactions == {}


def test_a_second_push_to_a_phone_with_an_open_prompt_is_a_transient_lock(sim, client, push):
    client.stk_push(push(outcomes.PHONE_MANUAL))

    with pytest.raises(DarajaSubscriberBusy) as caught:
        client.stk_push(push(outcomes.PHONE_MANUAL))

    assert not caught.value.permanent
    assert caught.value.code == "500.001.1001"
    assert caught.value.retry_after_seconds == 60
    assert len(sim.transactions) == 1


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("spike_arrest", "500.003.02"),
        ("system_busy", "500.003.02"),
        ("quota", "500.003.03"),
        ("internal", "500.003.1001"),
        ("503", "503"),
    ],
)
def test_gateway_overload_is_transient_and_never_retried_by_the_client(sim, client, push, fault, code):
    client.get_token()
    sim.configure(fail_next=1, fail_with=fault, fail_only="stkpush")

    with pytest.raises(DarajaUnavailable) as caught:
        client.stk_push(push())

    assert not caught.value.permanent
    assert caught.value.code == code
    assert not caught.value.maybe_processed
    assert len(_calls(sim, "stkpush")) == 1  # no automatic second push: Daraja has no idempotency
    assert client.stk_push(push()).response_code == "0"  # the caller's own retry later succeeds


def test_a_dropped_connection_is_transient_and_may_have_been_processed(sim, client, push):
    client.get_token()
    sim.configure(fail_next=1, fail_with="reset", fail_only="stkpush")

    with pytest.raises(DarajaUnavailable) as caught:
        client.stk_push(push())

    assert not caught.value.permanent
    assert caught.value.maybe_processed


def test_a_push_slower_than_the_read_timeout_is_a_transient_timeout(sim, push):
    client = _client(sim, timeout=(2, 0.3))
    client.get_token()
    sim.configure(slow_seconds=2, slow_only="stkpush")

    with pytest.raises(DarajaTimeout) as caught:
        client.stk_push(push())

    assert not caught.value.permanent
    assert caught.value.maybe_processed  # the prompt may be on its way: do not blindly push again
    sim.configure(slow_seconds=0)


def test_a_slow_oauth_answer_is_a_timeout_too(sim):
    sim.configure(slow_seconds=2, slow_only="oauth")
    with pytest.raises(DarajaTimeout):
        _client(sim, timeout=(2, 0.3)).get_token()
    sim.configure(slow_seconds=0)


def test_a_simulator_that_is_not_running_is_unavailable_not_a_crash(sim, push):
    client = _client(sim)
    sim.stop()
    with pytest.raises(DarajaUnavailable) as caught:
        client.stk_push(push())
    assert not caught.value.permanent
    assert not caught.value.maybe_processed


# --- STK query ---------------------------------------------------------------------------------------


def test_a_query_while_the_prompt_is_open_is_pending_with_4999(sim, client, push):
    accepted = client.stk_push(push(outcomes.PHONE_MANUAL))

    result = client.stk_query(accepted.checkout_request_id)

    assert result.pending
    assert result.outcome is Outcome.PENDING
    assert result.result_code == "4999"
    assert result.result_description == "The transaction is still under processing"


def test_the_old_style_500_being_processed_answer_is_pending_too(sim, client, push):
    sim.configure(query_pending_mode="500")
    accepted = client.stk_push(push(outcomes.PHONE_MANUAL))

    result = client.stk_query(accepted.checkout_request_id)

    assert result.pending
    assert result.outcome is Outcome.PENDING
    assert result.result_code is None
    assert result.error.code == "500.001.1001"
    assert result.result_description == "The transaction is being processed"


@pytest.mark.parametrize(
    ("resolve_with", "code", "outcome"),
    [
        (0, "0", Outcome.PAID),
        (1, "1", Outcome.FAILED),
        (1032, "1032", Outcome.FAILED),
        (1037, "1037", Outcome.FAILED),
        (2001, "2001", Outcome.FAILED),
        ("SFC_IC0003", "SFC_IC0003", Outcome.FAILED),
        (7777, "7777", Outcome.FAILED),
    ],
)
def test_a_final_query_answer_gives_the_result_code_as_a_string(sim, client, push, resolve_with, code, outcome):
    accepted = client.stk_push(push(outcomes.PHONE_MANUAL))
    sim.resolve(accepted.checkout_request_id, resolve_with)

    result = client.stk_query(accepted.checkout_request_id)

    assert not result.pending
    assert result.result_code == code
    assert result.outcome is outcome
    assert result.checkout_request_id == accepted.checkout_request_id
    assert result.merchant_request_id == accepted.merchant_request_id


def test_the_query_uses_its_own_wording_for_a_timeout(sim, client, push):
    accepted = client.stk_push(push(outcomes.PHONE_TIMEOUT))
    result = client.stk_query(accepted.checkout_request_id)
    assert (result.result_code, result.result_description) == ("1037", "DS timeout user cannot be reached.")
    assert result.member_message == "Your phone did not respond in time."


def test_an_open_prompt_that_expires_on_the_simulator_clock_reads_1037(sim, client, push):
    accepted = client.stk_push(push(outcomes.PHONE_MANUAL))
    sim.advance_clock(sim.config.manual_expiry_seconds + 1)
    assert client.stk_query(accepted.checkout_request_id).result_code == "1037"


def test_an_unknown_checkout_request_id_is_pending_not_failed(sim, client):
    result = client.stk_query("ws_CO_010120240000000000000000")

    assert result.pending
    assert result.outcome is Outcome.PENDING
    assert result.result_code is None
    assert result.result_description == "The transaction does not Exist"


def test_an_intermittent_500_for_a_finished_payment_is_pending_never_failed(sim, client, push):
    accepted = client.stk_push(push(outcomes.PHONE_SUCCESS))
    sim.configure(query_flaky_percent=100)

    assert client.stk_query(accepted.checkout_request_id).pending

    sim.configure(query_flaky_percent=0)
    assert client.stk_query(accepted.checkout_request_id).outcome is Outcome.PAID


@pytest.mark.parametrize("fault", ["spike_arrest", "quota", "503", "reset"])
def test_a_query_that_hits_a_gateway_fault_is_pending(sim, client, push, fault):
    accepted = client.stk_push(push(outcomes.PHONE_SUCCESS))
    sim.configure(fail_next=1, fail_with=fault, fail_only="stkquery")

    result = client.stk_query(accepted.checkout_request_id)

    assert result.pending
    assert not result.error.permanent


def test_a_query_that_times_out_is_pending(sim, push):
    client = _client(sim, timeout=(2, 0.3))
    accepted = client.stk_push(push(outcomes.PHONE_SUCCESS))
    sim.configure(slow_seconds=2, slow_only="stkquery")

    result = client.stk_query(accepted.checkout_request_id)

    assert result.pending
    assert isinstance(result.error, DarajaTimeout)
    sim.configure(slow_seconds=0)


def test_a_query_with_the_wrong_passkey_raises_instead_of_pretending_to_be_pending(sim, push):
    accepted = _client(sim).stk_push(push(outcomes.PHONE_SUCCESS))
    with pytest.raises(DarajaRejected) as caught:
        _client(sim, passkey="not-the-passkey").stk_query(accepted.checkout_request_id)
    assert caught.value.permanent
    assert caught.value.message == "Wrong credentials"


# --- Callbacks, as the simulator delivers them -----------------------------------------------------


def test_a_delivered_success_callback_parses_with_amount_receipt_date_and_phone(sim, client, push, callback_receiver):
    sim.configure(shuffle_metadata=True, callback_balance="no_value")
    accepted = client.stk_push(push(outcomes.PHONE_SUCCESS, amount=1500, callback_url=callback_receiver.url))
    sim.wait_for_deliveries(1)

    callback = parse_stk_callback(callback_receiver.bodies[0])

    assert callback.checkout_request_id == accepted.checkout_request_id
    assert callback.merchant_request_id == accepted.merchant_request_id
    assert callback.is_paid
    assert callback.amount == Decimal("1500.00")
    assert callback.receipt_number == sim.transaction(accepted.checkout_request_id)["receipt_number"]
    assert len(callback.receipt_number) == 10
    assert callback.phone == outcomes.PHONE_SUCCESS
    assert isinstance(callback.transaction_date, datetime)
    assert callback.transaction_date.utcoffset().total_seconds() == 3 * 3600
    assert callback.metadata["Balance"] is None


def test_a_delivered_failure_callback_parses_without_metadata(sim, client, push, callback_receiver):
    client.stk_push(push(outcomes.PHONE_INSUFFICIENT, callback_url=callback_receiver.url))
    sim.wait_for_deliveries(1)

    callback = parse_stk_callback(callback_receiver.bodies[0])

    assert callback.result_code == "1"
    assert callback.outcome is Outcome.FAILED
    assert callback.member_message == "Your M-Pesa balance was not enough."
    assert callback.amount is None and callback.receipt_number is None


def test_a_forged_callback_with_a_string_result_code_parses(sim, callback_receiver):
    sim.forge_callback(callback_receiver.url, result_code="SFC_IC0003")
    callback = parse_stk_callback(callback_receiver.bodies[0])
    assert callback.result_code == "SFC_IC0003"
    assert callback.outcome is Outcome.FAILED
    assert json.loads(callback_receiver.bodies[0])["Body"]["stkCallback"]["ResultCode"] == "SFC_IC0003"


# --- C2B ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_c2b_urls_are_registered(sim, client, version):
    registration = client.register_c2b_urls(
        "https://example.org/api/payments/c2b/confirm/",
        "https://example.org/api/payments/c2b/validate/",
        response_type="Cancelled",
        version=version,
    )

    assert registration.response_code == "0"
    assert registration.response_description == "Success"
    assert registration.originator_conversation_id
    assert sim.c2b  # the simulator recorded the registration


def test_registering_c2b_urls_twice_in_production_is_permanent(sim, client):
    sim.configure(c2b_mode="production")
    urls = ("https://example.org/c2b/confirm/", "https://example.org/c2b/validate/")
    client.register_c2b_urls(*urls)

    with pytest.raises(DarajaRejected) as caught:
        client.register_c2b_urls(*urls)

    assert caught.value.permanent
    assert caught.value.message == "Urls are already registered"


def test_a_c2b_version_the_app_lacks_fails_permanently_after_one_token_retry(sim, client):
    sim.configure(c2b_api_version="v1")
    with pytest.raises(DarajaTokenRejected) as caught:
        client.register_c2b_urls("https://example.org/c2b/confirm/", "https://example.org/c2b/validate/", version="v2")
    assert caught.value.permanent
    assert caught.value.code == "401.003.01"
    assert len(_calls(sim, "c2b")) == 2


def test_an_expired_token_on_c2b_uses_c2bs_own_code_and_is_still_refreshed(sim, client):
    client.get_token()
    sim.advance_clock(3600)
    registration = client.register_c2b_urls("https://example.org/c2b/confirm/", "https://example.org/c2b/validate/")
    assert registration.response_code == "0"
    assert [call["status"] for call in _calls(sim, "c2b")] == [400, 200]
