"""The simulator over real HTTP: an in-process Simulator on a free port and a tiny callback receiver.

No Django here: the simulator is its own program, and these tests treat it as a Daraja would be treated.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest

from daraja_simulator.config import SANDBOX_PASSKEY
from daraja_simulator.ids import EAT
from daraja_simulator.outcomes import (
    PHONE_CANCELLED,
    PHONE_INSUFFICIENT,
    PHONE_MANUAL,
    PHONE_NO_CALLBACK,
    PHONE_OUTCOMES,
    PHONE_SUCCESS,
    PHONE_SUCCESS_01,
    PHONE_TIMEOUT,
    PHONE_WRONG_PIN,
    SANDBOX_TEST_PHONE,
    describe,
)
from daraja_simulator.server import Simulator

PUSH = "/mpesa/stkpush/v1/processrequest"
QUERY = "/mpesa/stkpushquery/v1/query"
OAUTH = "/oauth/v1/generate?grant_type=client_credentials"
KEY, SECRET = "simulator-consumer-key", "simulator-consumer-secret"
RECEIPT_RE = re.compile(r"^[A-Z0-9]{10}$")
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --- HTTP plumbing -----------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict
    text: str

    @property
    def json(self):
        return json.loads(self.text)


def http(method, url, body=None, *, headers=None, data=None, timeout=5.0) -> Reply:
    headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - test URLs
    try:
        with NO_PROXY.open(request, timeout=timeout) as response:
            return Reply(response.status, dict(response.headers), response.read().decode())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers), exc.read().decode())


def basic(key=KEY, secret=SECRET) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


def get_token(sim) -> str:
    return http("GET", sim.base_url + OAUTH, headers=basic()).json["access_token"]


def bearer(token) -> dict:
    return {"Authorization": f"Bearer {token}"}


class Receiver:
    """A stand-in for the Django callback view: records every POST, answers with a chosen status."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []  # answered in order; 200 once exhausted
        self.replies: list[dict] = []  # JSON bodies answered in order; Daraja's "Accepted" once exhausted
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.cond:
                    receiver.requests.append(
                        # headers stay an email.message.Message: lookups ignore case, as HTTP does
                        {"path": self.path, "headers": self.headers, "body": json.loads(raw), "at": time.time()}
                    )
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    reply = receiver.replies.pop(0) if receiver.replies else {"ResultCode": 0, "ResultDesc": "Accepted"}
                    receiver.cond.notify_all()
                payload = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01})
        self.thread.start()

    def url(self, path="/api/mpesa/callback/tok3n/?secret=s3"):
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait_for(self, count, timeout=3.0) -> list[dict]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.requests) >= count, timeout), f"got {len(self.requests)}"
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def sim():
    with Simulator(callback_delay=0, seed=7) as s:
        yield s


@pytest.fixture
def token(sim):
    return get_token(sim)


def push_body(sim, receiver, phone=PHONE_SUCCESS, **overrides) -> dict:
    timestamp = sim.timestamp()
    body = {
        "BusinessShortCode": 174379,
        "Password": sim.password(timestamp),
        "Timestamp": timestamp,
        "TransactionType": "CustomerPayBillOnline",
        "Amount": 5000,
        "PartyA": phone,
        "PartyB": 174379,
        "PhoneNumber": phone,
        "CallBackURL": receiver.url() if receiver else "http://127.0.0.1:9/cb",
        "AccountReference": "KTS20250001",
        "TransactionDesc": "Membership",
    }
    body.update(overrides)
    return body


def push(sim, token, receiver, phone=PHONE_SUCCESS, **overrides) -> Reply:
    return http("POST", sim.base_url + PUSH, push_body(sim, receiver, phone, **overrides), headers=bearer(token))


def query(sim, token, checkout_id, **overrides) -> Reply:
    timestamp = sim.timestamp()
    body = {
        "BusinessShortCode": "174379",
        "Password": sim.password(timestamp),
        "Timestamp": timestamp,
        "CheckoutRequestID": checkout_id,
    }
    body.update(overrides)
    return http("POST", sim.base_url + QUERY, body, headers=bearer(token))


def control(sim, method, path, body=None) -> Reply:
    if method == "POST" and body is None:
        body = {}
    return http(method, sim.base_url + "/__sim__/" + path, body)


def assert_daraja_error(reply: Reply, status: int, code: str, message: str):
    assert reply.status == status, reply.text
    assert reply.json["errorCode"] == code
    assert reply.json["errorMessage"] == message
    assert set(reply.json) == {"requestId", "errorCode", "errorMessage"}
    assert isinstance(reply.json["requestId"], str) and reply.json["requestId"]


def stk_callback(request: dict) -> dict:
    return request["body"]["Body"]["stkCallback"]


def result_codes(requests: list[dict]) -> dict:
    """CheckoutRequestID -> callback ResultCode (callbacks travel on separate threads, in any order)."""
    return {stk_callback(r)["CheckoutRequestID"]: stk_callback(r)["ResultCode"] for r in requests}


def items_by_name(callback: dict) -> dict:
    return {item["Name"]: item for item in callback["CallbackMetadata"]["Item"]}


# --- OAuth -------------------------------------------------------------------------------------------


def test_oauth_issues_a_28_character_token_with_expires_in_as_the_string_3599(sim):
    reply = http("GET", sim.base_url + OAUTH, headers=basic())

    assert reply.status == 200
    assert reply.json["expires_in"] == "3599"
    assert re.fullmatch(r"[A-Za-z0-9]{28}", reply.json["access_token"])
    assert reply.headers["Content-Type"].startswith("application/json")


def test_oauth_can_report_expires_in_as_a_number_with_a_configured_ttl(sim):
    sim.configure(expires_in_as_number=True, token_ttl=120)

    assert http("GET", sim.base_url + OAUTH, headers=basic()).json["expires_in"] == 120


@pytest.mark.parametrize(
    "headers",
    [
        basic(secret="wrong"),
        basic(key="nobody"),
        {},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic !!!notbase64"},
    ],
    ids=["wrong secret", "unknown key", "no header", "not basic", "garbage"],
)
def test_oauth_refuses_bad_credentials_with_400_008_01(sim, headers):
    reply = http("GET", sim.base_url + OAUTH, headers=headers)

    assert_daraja_error(reply, 400, "400.008.01", "Invalid Authentication passed")


@pytest.mark.parametrize("query", ["", "?grant_type=password", "?grant_type=client_credentials%20"])
def test_oauth_refuses_a_missing_or_wrong_grant_type_with_400_008_02(sim, query):
    reply = http("GET", sim.base_url + "/oauth/v1/generate" + query, headers=basic())

    assert_daraja_error(reply, 400, "400.008.02", "Invalid grant type passed")


def test_oauth_can_fail_with_an_empty_body_as_some_reports_describe(sim):
    sim.configure(oauth_failure_body="empty")

    reply = http("GET", sim.base_url + OAUTH, headers=basic(secret="wrong"))

    assert (reply.status, reply.text) == (400, "")


def test_a_second_configured_app_gets_tokens_too():
    with Simulator(extra_apps={"other-key": "other-secret"}) as sim:
        assert http("GET", sim.base_url + OAUTH, headers=basic("other-key", "other-secret")).status == 200
        assert http("GET", sim.base_url + OAUTH, headers=basic()).status == 200


def test_a_token_stops_working_when_the_clock_passes_its_ttl(sim, receiver, token):
    assert push(sim, token, receiver).status == 200

    sim.advance_clock(3600)

    assert_daraja_error(push(sim, token, receiver), 404, "404.001.03", "Invalid Access Token")
    assert push(sim, get_token(sim), receiver).status == 200


def test_an_unknown_bearer_token_gets_404_001_03_and_a_missing_one_404_001_04(sim, receiver):
    assert_daraja_error(push(sim, "not-a-token", receiver), 404, "404.001.03", "Invalid Access Token")
    reply = http("POST", sim.base_url + PUSH, push_body(sim, receiver))
    assert_daraja_error(reply, 404, "404.001.04", "Invalid Authentication Header")


def test_a_new_token_revokes_the_previous_one_when_configured(sim, receiver):
    sim.configure(token_revokes_previous=True)
    first = get_token(sim)
    second = get_token(sim)

    assert push(sim, first, receiver).status == 404
    assert push(sim, second, receiver).status == 200


def test_tokens_are_independent_by_default(sim, receiver):
    first = get_token(sim)
    get_token(sim)

    assert push(sim, first, receiver).status == 200


def test_an_app_without_the_product_gets_401_003_01(sim, receiver, token):
    sim.configure(app_lacks_product=True)

    reply = push(sim, token, receiver)

    assert_daraja_error(
        reply,
        401,
        "401.003.01",
        "Error Occurred - Invalid Access Token - Invalid API call as no apiproduct match found",
    )


# --- STK push: synchronous validation -----------------------------------------------------------------


def test_a_valid_push_is_accepted_with_string_response_code_and_realistic_ids(sim, receiver, token):
    reply = push(sim, token, receiver)

    assert reply.status == 200
    body = reply.json
    assert body["ResponseCode"] == "0"
    assert body["ResponseDescription"] == body["CustomerMessage"] == "Success. Request accepted for processing"
    now = sim.now()
    assert re.fullmatch(r"ws_CO_\d{14}\d{3}712345000", body["CheckoutRequestID"])
    assert body["CheckoutRequestID"][6:14] == now.strftime("%d%m%Y")
    assert re.fullmatch(r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\d{4,7}", body["MerchantRequestID"])
    assert "AccountReference" not in body


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"BusinessShortCode": "17437A"}, "BusinessShortCode"),
        ({"BusinessShortCode": 1234}, "BusinessShortCode"),
        ({"Password": ""}, "Password"),
        ({"Timestamp": "2024-01-01 12:00"}, "Timestamp"),
        ({"Timestamp": "20241301120000"}, "Timestamp"),
        ({"TransactionType": "CustomerPayBill"}, "TransactionType"),
        ({"Amount": 0}, "Amount"),
        ({"Amount": 250_001}, "Amount"),
        ({"Amount": 10.5}, "Amount"),
        ({"Amount": "10.50"}, "Amount"),
        ({"Amount": "ten"}, "Amount"),
        ({"Amount": True}, "Amount"),
        ({"PartyA": "0712345678"}, "PartyA"),
        ({"PartyB": "till"}, "PartyB"),
        ({"PhoneNumber": "+254712345678"}, "PhoneNumber"),
        ({"PhoneNumber": "254812345678"}, "PhoneNumber"),
        ({"PhoneNumber": "25471234567"}, "PhoneNumber"),
        ({"CallBackURL": " http://127.0.0.1/cb"}, "CallBackURL"),
        ({"CallBackURL": "ftp://127.0.0.1/cb"}, "CallBackURL"),
        ({"CallBackURL": "callback"}, "CallBackURL"),
        ({"AccountReference": ""}, "AccountReference"),
        ({"AccountReference": "KTS-2025-0001"}, "AccountReference"),  # 13 characters
        ({"TransactionDesc": "Membership fee"}, "TransactionDesc"),  # 14 characters
    ],
)
def test_invalid_push_fields_get_400_002_02_naming_the_field(sim, receiver, token, overrides, field):
    reply = push(sim, token, receiver, **overrides)

    assert_daraja_error(reply, 400, "400.002.02", f"Bad Request - Invalid {field}")
    assert sim.transactions == {}


def test_codes_amounts_and_phones_may_be_numbers_or_numeric_strings(sim, receiver, token):
    as_strings = push(sim, token, receiver, BusinessShortCode="174379", Amount="100", PartyB="174379")
    as_numbers = push(
        sim, token, receiver, phone=int(PHONE_SUCCESS_01), PartyA=int(PHONE_SUCCESS_01), Amount=100, TransactionDesc=""
    )

    assert (as_strings.status, as_numbers.status) == (200, 200)
    assert [t["amount"] for t in sim.transactions.values()] == [100, 100]


def test_a_password_built_from_another_timestamp_gets_wrong_credentials(sim, receiver, token):
    body = push_body(sim, receiver)
    body["Password"] = sim.password("20160216165627")

    reply = http("POST", sim.base_url + PUSH, body, headers=bearer(token))

    assert_daraja_error(reply, 500, "500.001.1001", "Wrong credentials")


def test_the_sandbox_password_sample_from_the_docs_is_accepted(sim):
    expected = base64.b64encode(f"174379{SANDBOX_PASSKEY}20160216165627".encode()).decode()

    assert sim.password("20160216165627") == expected


def test_an_unknown_shortcode_gets_merchant_does_not_exist(sim, receiver, token):
    reply = push(sim, token, receiver, BusinessShortCode=600000, PartyB=600000)

    assert_daraja_error(reply, 500, "500.001.1001", "Merchant does not exist")


def test_a_second_configured_shortcode_takes_pushes_with_its_own_passkey(receiver):
    with Simulator(callback_delay=0, extra_shortcodes={"600100": "another-passkey"}) as sim:
        timestamp = sim.timestamp()
        password = sim.password(timestamp, shortcode="600100")
        reply = push(
            sim,
            get_token(sim),
            receiver,
            BusinessShortCode=600100,
            PartyB=600100,
            Timestamp=timestamp,
            Password=password,
        )

        assert reply.status == 200
        assert stk_callback(receiver.wait_for(1)[0])["ResultCode"] == 0
        assert receiver.requests[0]["headers"]["Businessshortcode"] == "600100"


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (urlencode({"BusinessShortCode": "174379"}).encode(), "application/x-www-form-urlencoded"),
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"", "application/json"),
    ],
    ids=["form", "malformed", "array", "empty"],
)
def test_a_body_that_is_not_a_json_object_reads_as_invalid_business_short_code(sim, token, data, content_type):
    reply = http("POST", sim.base_url + PUSH, data=data, headers={**bearer(token), "Content-Type": content_type})

    assert_daraja_error(reply, 400, "400.002.02", "Bad Request - Invalid BusinessShortCode")


def test_a_wrong_method_is_405_and_a_wrong_path_is_404_001_01(sim, token):
    assert_daraja_error(http("GET", sim.base_url + PUSH, headers=bearer(token)), 405, "405.001", "Method Not Allowed")
    reply = http("POST", sim.base_url + "/mpesa/stkpush/v2/processrequest", {}, headers=bearer(token))
    assert_daraja_error(reply, 404, "404.001.01", "Resource not found")
    assert http("POST", sim.base_url + "/oauth/v1/generate", {}).status == 405


def test_long_fields_can_be_accepted_or_fail_later_with_callback_1025(sim, receiver, token):
    sim.configure(long_field_policy="accept")
    assert push(sim, token, receiver, AccountReference="KTS-2025-0001").status == 200
    assert stk_callback(receiver.wait_for(1)[0])["ResultCode"] == 0

    sim.configure(long_field_policy="callback_1025")
    reply = push(sim, token, receiver, TransactionDesc="Membership fee")
    assert reply.status == 200
    assert result_codes(receiver.wait_for(2))[reply.json["CheckoutRequestID"]] == 1025


def test_decimal_amounts_can_be_truncated_instead_of_refused(sim, receiver, token):
    sim.configure(decimal_amount_policy="truncate")

    assert push(sim, token, receiver, Amount="99.90").status == 200
    assert next(iter(sim.transactions.values()))["amount"] == 99


def test_identical_pushes_are_two_transactions_because_daraja_has_no_idempotency(sim, receiver, token):
    first = push(sim, token, receiver).json["CheckoutRequestID"]
    second = push(sim, token, receiver).json["CheckoutRequestID"]

    assert first != second
    assert len(sim.transactions) == 2


def test_strict_callback_urls_must_be_https_and_lowercase(sim, receiver, token):
    sim.configure(strict_callback_url=True)

    assert push(sim, token, receiver).json["errorMessage"] == "Bad Request - Invalid CallBackURL"
    assert push(sim, token, None, CallBackURL="https://example.com/CB").status == 400
    assert push(sim, token, None, CallBackURL="https://example.com/cb/t0k").status == 200


def test_a_stale_timestamp_is_refused_only_when_skew_checking_is_on(sim, receiver, token):
    old = "20200101120000"
    assert push(sim, token, receiver, Timestamp=old, Password=sim.password(old)).status == 200

    sim.configure(timestamp_max_skew=300)

    reply = push(sim, token, receiver, Timestamp=old, Password=sim.password(old))
    assert_daraja_error(reply, 400, "400.002.02", "Bad Request - Invalid Timestamp")


# --- STK push: outcomes and callbacks -----------------------------------------------------------------

CALLBACK_OUTCOMES = {ending: o for ending, o in PHONE_OUTCOMES.items() if o.deliver and not o.manual}


@pytest.mark.parametrize("ending", sorted(CALLBACK_OUTCOMES))
def test_each_phone_ending_ends_in_its_result_code_in_callback_and_query(sim, receiver, token, ending):
    outcome = PHONE_OUTCOMES[ending]
    phone = "254722000" + ending
    checkout_id = push(sim, token, receiver, phone=phone).json["CheckoutRequestID"]

    callback = stk_callback(receiver.wait_for(1)[0])

    assert callback["ResultCode"] == outcome.result_code
    assert type(callback["ResultCode"]) is type(outcome.result_code)  # int, or the string SFC_IC0003
    assert callback["ResultDesc"] == describe(outcome.result_code)[0]
    assert ("CallbackMetadata" in callback) == (outcome.result_code == 0)
    result = query(sim, token, checkout_id).json
    assert result["ResultCode"] == str(outcome.result_code)
    assert result["ResultDesc"] == describe(outcome.result_code)[1]


def test_a_success_callback_has_daraja_headers_url_shape_and_types(sim, receiver, token):
    reply = push(sim, token, receiver, Amount=5000)

    request = receiver.wait_for(1)[0]

    assert request["path"] == "/api/mpesa/callback/tok3n/?secret=s3"
    assert request["headers"]["Content-Type"] == "application/json;charset=UTF-8"
    assert request["headers"]["Businessshortcode"] == "174379"
    assert "X-Forwarded-For" not in request["headers"]
    callback = stk_callback(request)
    assert callback["MerchantRequestID"] == reply.json["MerchantRequestID"]
    assert callback["CheckoutRequestID"] == reply.json["CheckoutRequestID"]
    assert callback["ResultCode"] == 0
    assert callback["ResultDesc"] == "The service request is processed successfully."
    assert [i["Name"] for i in callback["CallbackMetadata"]["Item"]] == [
        "Amount",
        "MpesaReceiptNumber",
        "Balance",
        "TransactionDate",
        "PhoneNumber",
    ]
    items = items_by_name(callback)
    assert items["Amount"]["Value"] == 5000 and isinstance(items["Amount"]["Value"], float)
    assert RECEIPT_RE.match(items["MpesaReceiptNumber"]["Value"])
    assert items["Balance"] == {"Name": "Balance"}
    transaction_date = items["TransactionDate"]["Value"]
    assert isinstance(transaction_date, int)
    paid_at = datetime.strptime(str(transaction_date), "%Y%m%d%H%M%S").replace(tzinfo=EAT)
    assert abs((sim.now() - paid_at).total_seconds()) < 60  # Nairobi time, not UTC
    assert items["PhoneNumber"]["Value"] == int(PHONE_SUCCESS)
    assert "AccountReference" not in json.dumps(request["body"])


def test_the_receipt_starts_with_year_month_and_day_letters():
    with Simulator(callback_delay=0, start_time="2019-12-19T10:21:15+03:00", freeze_clock=True) as sim:
        checkout_id = push(sim, get_token(sim), None).json["CheckoutRequestID"]

        receipt = sim.transaction(checkout_id)["receipt_number"]

    assert receipt.startswith("NLJ")  # 2019 = N, December = L, 19th = J, as in Daraja's sample NLJ7RT61SV
    assert checkout_id.startswith("ws_CO_19122019102115000")


@pytest.mark.parametrize(("setting", "item"), [("absent", None), (1250.5, {"Name": "Balance", "Value": 1250.5})])
def test_the_balance_item_can_be_absent_or_numeric(sim, receiver, token, setting, item):
    sim.configure(callback_balance=setting, callback_amount_type="int")
    push(sim, token, receiver, Amount=10)

    items = items_by_name(stk_callback(receiver.wait_for(1)[0]))

    assert items.get("Balance") == item
    assert items["Amount"]["Value"] == 10 and isinstance(items["Amount"]["Value"], int)


def test_the_sandbox_test_number_times_out_with_different_wording_in_callback_and_query(sim, receiver, token):
    checkout_id = push(sim, token, receiver, phone=SANDBOX_TEST_PHONE).json["CheckoutRequestID"]

    callback = stk_callback(receiver.wait_for(1)[0])

    assert (callback["ResultCode"], callback["ResultDesc"]) == (1037, "No response from user.")
    assert "CallbackMetadata" not in callback
    result = query(sim, token, checkout_id).json
    assert (result["ResultCode"], result["ResultDesc"]) == ("1037", "DS timeout user cannot be reached.")


def test_a_lost_notification_sends_nothing_but_the_query_reports_success(sim, receiver, token):
    checkout_id = push(sim, token, receiver, phone=PHONE_NO_CALLBACK).json["CheckoutRequestID"]
    sim.wait_until_idle()

    assert receiver.requests == []
    assert sim.deliveries == []
    result = query(sim, token, checkout_id).json
    assert (result["ResultCode"], result["ResultDesc"]) == ("0", "The service request is processed successfully.")
    assert RECEIPT_RE.match(sim.transaction(checkout_id)["receipt_number"])


def test_a_manual_prompt_waits_then_expires_to_1037_after_90_simulated_seconds(sim, receiver, token):
    checkout_id = push(sim, token, receiver, phone=PHONE_MANUAL).json["CheckoutRequestID"]
    sim.advance_clock(89)
    assert sim.transaction(checkout_id)["status"] == "pending"
    assert receiver.requests == []

    sim.advance_clock(2)

    callback = stk_callback(receiver.wait_for(1)[0])
    assert callback["ResultCode"] == 1037
    assert sim.transaction(checkout_id)["resolved_by"] == "expiry"


def test_a_timeout_can_take_longer_than_other_outcomes(sim, receiver, token):
    sim.configure(callback_delay=0, timeout_callback_delay=26)
    checkout_id = push(sim, token, receiver, phone=PHONE_TIMEOUT).json["CheckoutRequestID"]
    assert query(sim, token, checkout_id).json["ResultCode"] == "4999"

    sim.advance_clock(26)

    assert stk_callback(receiver.wait_for(1)[0])["ResultCode"] == 1037


def test_a_callback_waits_for_the_configured_delay(sim, receiver, token):
    sim.configure(callback_delay=0.3)
    start = time.monotonic()
    checkout_id = push(sim, token, receiver).json["CheckoutRequestID"]
    assert receiver.requests == []
    assert sim.transaction(checkout_id)["status"] == "pending"

    receiver.wait_for(1)

    assert time.monotonic() - start >= 0.25


def test_the_next_outcome_for_a_phone_overrides_the_table_once(sim, receiver, token):
    sim.set_next_outcome(PHONE_SUCCESS, "SFC_IC0003")

    first = push(sim, token, receiver).json["CheckoutRequestID"]
    second = push(sim, token, receiver).json["CheckoutRequestID"]

    assert result_codes(receiver.wait_for(2)) == {first: "SFC_IC0003", second: 0}
    assert sim.transaction(first)["result_desc"] == "The operator does not exist."


def test_buy_goods_on_a_paybill_fails_with_2028_and_a_wrong_party_b_with_sfc_ic0003(sim, receiver, token):
    first = push(sim, token, receiver, TransactionType="CustomerBuyGoodsOnline").json["CheckoutRequestID"]
    second = push(sim, token, receiver, PartyB=600000).json["CheckoutRequestID"]

    assert result_codes(receiver.wait_for(2)) == {first: 2028, second: "SFC_IC0003"}


def test_a_till_takes_buy_goods_with_the_store_number_as_shortcode(receiver):
    with Simulator(callback_delay=0, shortcode="174379", shortcode_type="till", till_number="5123456") as sim:
        reply = push(sim, get_token(sim), receiver, TransactionType="CustomerBuyGoodsOnline", PartyB=5123456)

        assert reply.status == 200
        assert stk_callback(receiver.wait_for(1)[0])["ResultCode"] == 0


def test_the_same_amount_to_the_same_phone_inside_the_window_fails_with_17(sim, receiver, token):
    sim.configure(same_amount_window=120)

    ids = [push(sim, token, receiver, Amount=amount).json["CheckoutRequestID"] for amount in (100, 100, 200)]

    codes = result_codes(receiver.wait_for(3))
    assert [codes[i] for i in ids] == [0, 17, 0]


def test_metadata_items_can_come_in_any_order(sim, receiver, token):
    sim.configure(shuffle_metadata=True, seed=3)
    for _ in range(4):
        push(sim, token, receiver)

    orders = {tuple(i["Name"] for i in stk_callback(r)["CallbackMetadata"]["Item"]) for r in receiver.wait_for(4)}

    assert len(orders) > 1


# --- Per-phone lock ----------------------------------------------------------------------------------


def test_a_second_push_to_a_phone_with_an_open_prompt_cannot_lock_the_subscriber(sim, receiver, token):
    checkout_id = push(sim, token, receiver, phone=PHONE_MANUAL).json["CheckoutRequestID"]

    reply = push(sim, token, receiver, phone=PHONE_MANUAL)

    assert_daraja_error(
        reply,
        500,
        "500.001.1001",
        "Unable to lock subscriber, a transaction is already in process for the current subscriber",
    )
    assert push(sim, token, receiver, phone=PHONE_SUCCESS).status == 200  # other phones are free
    sim.resolve(checkout_id, 1032)
    assert push(sim, token, receiver, phone=PHONE_MANUAL).status == 200


def test_the_lock_can_surface_as_callback_1001_instead(sim, receiver, token):
    sim.configure(lock_policy="callback_1001")
    push(sim, token, receiver, phone=PHONE_MANUAL)

    assert push(sim, token, receiver, phone=PHONE_MANUAL).status == 200

    assert stk_callback(receiver.wait_for(1)[0])["ResultCode"] == 1001


# --- STK query ---------------------------------------------------------------------------------------


def test_the_query_says_4999_while_the_prompt_is_open(sim, receiver, token):
    checkout_id = push(sim, token, receiver, phone=PHONE_MANUAL).json["CheckoutRequestID"]

    reply = query(sim, token, checkout_id)

    assert reply.status == 200
    assert reply.json["ResultCode"] == "4999"
    assert reply.json["ResultDesc"] == "The transaction is still under processing"
    assert reply.json["ResponseCode"] == "0"


def test_the_query_can_answer_the_old_style_500_while_pending(sim, receiver, token):
    sim.configure(query_pending_mode="500")
    checkout_id = push(sim, token, receiver, phone=PHONE_MANUAL).json["CheckoutRequestID"]

    reply = query(sim, token, checkout_id)

    assert_daraja_error(reply, 500, "500.001.1001", "The transaction is being processed")
    assert reply.json["requestId"] == checkout_id


def test_a_finished_query_has_string_codes_and_safaricoms_typo(sim, receiver, token):
    pushed = push(sim, token, receiver, phone=PHONE_CANCELLED).json

    reply = query(sim, token, pushed["CheckoutRequestID"])

    assert reply.status == 200
    assert reply.json == {
        "ResponseCode": "0",
        "ResponseDescription": "The service request has been accepted successsfully",
        "MerchantRequestID": pushed["MerchantRequestID"],
        "CheckoutRequestID": pushed["CheckoutRequestID"],
        "ResultCode": "1032",
        "ResultDesc": "Request cancelled by user",
    }


def test_querying_an_unknown_id_is_500_does_not_exist(sim, token):
    reply = query(sim, token, "ws_CO_01012026120000000712345000")

    assert_daraja_error(reply, 500, "500.001.1001", "The transaction does not Exist")


def test_the_query_checks_the_password_and_fields_like_the_push(sim, receiver, token):
    checkout_id = push(sim, token, receiver).json["CheckoutRequestID"]

    wrong = query(sim, token, checkout_id, Password=sim.password("20160216165627"))
    missing = query(sim, token, "")
    stale = http("POST", sim.base_url + QUERY, {"CheckoutRequestID": checkout_id}, headers=bearer("expired"))

    assert_daraja_error(wrong, 500, "500.001.1001", "Wrong credentials")
    assert_daraja_error(missing, 400, "400.002.02", "Bad Request - Invalid CheckoutRequestID")
    assert_daraja_error(stale, 404, "404.001.03", "Invalid Access Token")


def test_a_flaky_query_answers_500_001_1001_even_for_a_finished_push(sim, receiver, token):
    checkout_id = push(sim, token, receiver).json["CheckoutRequestID"]
    sim.configure(query_flaky_percent=100)

    assert_daraja_error(query(sim, token, checkout_id), 500, "500.001.1001", "The transaction is being processed")
    sim.configure(query_flaky_percent=0)
    assert query(sim, token, checkout_id).json["ResultCode"] == "0"


def test_the_sandbox_query_can_disagree_with_a_successful_callback(sim, receiver, token):
    sim.configure(query_disagrees=True)
    checkout_id = push(sim, token, receiver).json["CheckoutRequestID"]

    assert stk_callback(receiver.wait_for(1)[0])["ResultCode"] == 0
    assert query(sim, token, checkout_id).json["ResultCode"] == "1037"


# --- Delivery modes ----------------------------------------------------------------------------------


def test_a_callback_is_sent_once_and_not_retried_after_a_500(sim, receiver, token):
    receiver.statuses = [500]
    push(sim, token, receiver)

    receiver.wait_for(1)
    sim.wait_until_idle()

    assert len(receiver.requests) == 1
    assert [(d["status"], d["ok"], d["attempt"]) for d in sim.deliveries] == [(500, False, 1)]


def test_retry_until_2xx_keeps_trying(sim, receiver, token):
    sim.configure(callback_retry_until_2xx=True, callback_retry_interval=0.01)
    receiver.statuses = [500, 502]
    push(sim, token, receiver)

    receiver.wait_for(3)
    sim.wait_until_idle()

    assert [(d["attempt"], d["status"]) for d in sim.deliveries] == [(1, 500), (2, 502), (3, 200)]


def test_duplicates_send_the_same_body_n_times_spaced_apart(sim, receiver, token):
    sim.configure(callback_copies=3, callback_copy_interval=0.05)
    push(sim, token, receiver)

    requests = receiver.wait_for(3)

    assert requests[0]["body"] == requests[1]["body"] == requests[2]["body"]
    assert requests[2]["at"] - requests[0]["at"] >= 0.09
    assert [d["copy"] for d in sim.wait_for_deliveries(3)] == [1, 2, 3]


def test_the_callback_can_arrive_before_the_push_response(sim, receiver, token):
    sim.configure(deliver_before_response=True)

    reply = push(sim, token, receiver)

    assert len(receiver.requests) == 1  # already there, without waiting
    assert stk_callback(receiver.requests[0])["CheckoutRequestID"] == reply.json["CheckoutRequestID"]


def test_the_source_address_can_be_set_through_x_forwarded_for(sim, receiver, token):
    sim.configure(forwarded_for="196.201.212.69")
    push(sim, token, receiver)

    assert receiver.wait_for(1)[0]["headers"]["X-Forwarded-For"] == "196.201.212.69"


def test_every_attempt_is_logged_even_when_the_client_is_down(sim, token):
    push(sim, token, None, CallBackURL="http://127.0.0.1:9/api/cb")

    (delivery,) = sim.wait_for_deliveries(1)

    assert delivery["status"] is None
    assert delivery["ok"] is False
    assert "Connection" in delivery["error"] or "refused" in delivery["error"].lower()
    assert delivery["url"] == "http://127.0.0.1:9/api/cb"
    assert delivery["body"]["Body"]["stkCallback"]["ResultCode"] == 0
    assert set(delivery) >= {"time", "url", "status", "error", "body"}


def test_redirects_are_not_followed(sim, token):
    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(301)
            self.send_header("Location", "/elsewhere/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        push(sim, token, None, CallBackURL=f"http://127.0.0.1:{server.server_address[1]}/cb")
        (delivery,) = sim.wait_for_deliveries(1)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

    assert (delivery["status"], delivery["ok"]) == (301, False)


# --- Control API -------------------------------------------------------------------------------------


def test_control_lists_transactions_and_deliveries_as_json(sim, receiver, token):
    checkout_id = push(sim, token, receiver).json["CheckoutRequestID"]
    sim.wait_for_deliveries(1)

    transactions = control(sim, "GET", "transactions").json
    one = control(sim, "GET", f"transactions/{checkout_id}").json
    deliveries = control(sim, "GET", "deliveries").json

    assert transactions[checkout_id]["status"] == "completed"
    assert one["result_code"] == 0 and one["amount"] == 5000 and one["account_reference"] == "KTS20250001"
    assert deliveries[0]["checkout_request_id"] == checkout_id and deliveries[0]["status"] == 200
    assert control(sim, "GET", "requests").json[-1]["path"] == PUSH
    assert control(sim, "GET", "health").json["status"] == "ok"


def test_control_resolve_finishes_a_manual_prompt_with_a_chosen_code(sim, receiver, token):
    checkout_id = push(sim, token, receiver, phone=PHONE_MANUAL).json["CheckoutRequestID"]

    reply = control(sim, "POST", f"stk/{checkout_id}/resolve", {"result_code": "2001"})

    assert reply.status == 200 and reply.json["result_code"] == 2001
    assert stk_callback(receiver.wait_for(1)[0])["ResultCode"] == 2001
    assert query(sim, token, checkout_id).json["ResultCode"] == "2001"


def test_control_resolve_can_delay_and_can_skip_the_callback(sim, receiver, token):
    first = push(sim, token, receiver, phone=PHONE_MANUAL).json["CheckoutRequestID"]
    second = push(sim, token, receiver, phone="254722000555").json["CheckoutRequestID"]

    control(sim, "POST", f"stk/{first}/resolve", {"result_code": 0, "deliver": False})
    control(sim, "POST", f"stk/{second}/resolve", {"result_code": 1, "delay": 30})
    assert sim.transaction(second)["status"] == "pending"
    sim.advance_clock(30)

    (request,) = receiver.wait_for(1)
    assert stk_callback(request)["CheckoutRequestID"] == second
    assert sim.transaction(first)["result_code"] == 0
    sim.wait_until_idle()
    assert len(sim.deliveries) == 1


def test_resolving_twice_is_refused_unless_forced_for_a_late_success(sim, receiver, token):
    checkout_id = push(sim, token, receiver, phone=PHONE_TIMEOUT).json["CheckoutRequestID"]
    receiver.wait_for(1)

    refused = control(sim, "POST", f"stk/{checkout_id}/resolve", {"result_code": 0})
    forced = control(sim, "POST", f"stk/{checkout_id}/resolve", {"result_code": 0, "force": True})

    assert refused.status == 409
    assert forced.status == 200
    assert [stk_callback(r)["ResultCode"] for r in receiver.wait_for(2)] == [1037, 0]


def test_control_redeliver_sends_the_same_callback_again(sim, receiver, token):
    checkout_id = push(sim, token, receiver).json["CheckoutRequestID"]
    receiver.wait_for(1)

    assert control(sim, "POST", f"stk/{checkout_id}/redeliver").status == 200

    first, second = receiver.wait_for(2)
    assert first["body"] == second["body"]
    assert sim.wait_for_deliveries(2)[1]["kind"] == "redelivery"
    assert control(sim, "POST", "stk/ws_CO_nope/redeliver").status == 404


def test_control_next_outcome_queues_an_outcome_for_a_phone(sim, receiver, token):
    reply = control(sim, "POST", "next-outcome", {"phone": PHONE_SUCCESS, "result_code": 1032})
    push(sim, token, receiver)

    assert reply.status == 200
    assert stk_callback(receiver.wait_for(1)[0])["ResultCode"] == 1032
    assert control(sim, "POST", "next-outcome", {"phone": "0712", "result_code": 1}).status == 400


def test_control_config_changes_options_at_run_time_and_refuses_unknown_ones(sim, receiver, token):
    reply = control(sim, "POST", "config", {"query_pending_mode": "500", "manual_expiry_seconds": 60})

    assert reply.status == 200 and reply.json["query_pending_mode"] == "500"
    assert control(sim, "GET", "config").json["manual_expiry_seconds"] == 60
    assert control(sim, "POST", "config", {"no_such_option": 1}).status == 400
    assert control(sim, "POST", "config", {"query_pending_mode": "sometimes"}).status == 400


def test_control_clock_moves_time_forward(sim):
    before = sim.now()

    reply = control(sim, "POST", "clock", {"advance_seconds": 3600})

    assert reply.status == 200
    assert (sim.now() - before).total_seconds() >= 3600
    assert reply.json["now"].endswith("+03:00")


def test_control_reset_forgets_everything_and_restores_the_start_up_options(sim, receiver, token):
    sim.configure(query_pending_mode="500")
    push(sim, token, receiver)
    receiver.wait_for(1)

    assert control(sim, "POST", "reset").status == 200

    assert sim.transactions == {} and sim.deliveries == []
    assert sim.config.query_pending_mode == "4999"
    assert_daraja_error(push(sim, token, receiver), 404, "404.001.03", "Invalid Access Token")


def test_control_forge_posts_a_callback_daraja_never_sent(sim, receiver):
    reply = control(
        sim,
        "POST",
        "callbacks/forge",
        {"url": receiver.url("/cb/"), "checkout_request_id": "ws_CO_forged", "amount": 1, "forwarded_for": "6.6.6.6"},
    )

    (request,) = receiver.wait_for(1)
    assert reply.json["kind"] == "forged" and reply.json["status"] == 200
    assert stk_callback(request)["CheckoutRequestID"] == "ws_CO_forged"
    assert items_by_name(stk_callback(request))["Amount"]["Value"] == 1
    assert request["headers"]["X-Forwarded-For"] == "6.6.6.6"


def test_control_forge_can_send_any_body(sim, receiver):
    body = {"Body": {"stkCallback": {"CheckoutRequestID": "x", "ResultCode": "0"}}}

    sim.forge_callback(receiver.url("/cb/"), body)

    assert receiver.wait_for(1)[0]["body"] == body


def test_an_unknown_control_endpoint_is_404_and_bad_json_is_400(sim):
    assert control(sim, "POST", "nothing-here").status == 404
    bad = http("POST", sim.base_url + "/__sim__/config", data=b"{", headers={"Content-Type": "application/json"})
    assert bad.status == 400


# --- Phone page --------------------------------------------------------------------------------------


def test_the_phone_page_lists_open_prompts_for_a_small_screen(sim, receiver, token):
    checkout_id = push(sim, token, receiver, phone=PHONE_MANUAL, Amount=5000).json["CheckoutRequestID"]

    page = http("GET", sim.base_url + "/phone/")

    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "Pay KES 5,000 to 174379 (account KTS20250001)? Enter PIN" in page.text
    assert 'name="viewport"' in page.text
    assert f'action="/phone/{checkout_id}/approve"' in page.text
    assert f'formaction="/phone/{checkout_id}/decline"' in page.text
    assert not re.search(r"(src|href)=\"https?://", page.text)  # no external assets
    assert 'http-equiv="refresh"' not in page.text  # no reload under a hand that is typing a PIN


def test_the_phone_page_refreshes_itself_while_waiting_for_a_prompt(sim):
    page = http("GET", sim.base_url + "/phone/").text

    assert 'id="no-prompts"' in page
    assert 'http-equiv="refresh"' in page


def test_approving_on_the_phone_page_pays_and_calls_back(sim, receiver, token):
    checkout_id = push(sim, token, receiver, phone=PHONE_MANUAL).json["CheckoutRequestID"]

    reply = http(
        "POST",
        sim.base_url + f"/phone/{checkout_id}/approve",
        data=urlencode({"pin": "1234"}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert reply.status == 200  # after the 303 back to the page
    receipt = sim.transaction(checkout_id)["receipt_number"]
    assert f"receipt {receipt}" in reply.text
    callback = stk_callback(receiver.wait_for(1)[0])
    assert callback["ResultCode"] == 0
    assert items_by_name(callback)["MpesaReceiptNumber"]["Value"] == receipt
    assert sim.transaction(checkout_id)["resolved_by"] == "phone"


@pytest.mark.parametrize(("action", "code"), [("decline", 1032), ("wrong-pin", 2001), ("insufficient", 1)])
def test_other_phone_page_answers_fail_with_their_codes(sim, receiver, token, action, code):
    checkout_id = push(sim, token, receiver, phone=PHONE_MANUAL).json["CheckoutRequestID"]

    reply = http("POST", sim.base_url + f"/phone/{checkout_id}/{action}", data=b"")

    assert reply.status == 200
    assert stk_callback(receiver.wait_for(1)[0])["ResultCode"] == code
    assert "Pay KES" not in reply.text


def test_answering_a_closed_prompt_on_the_phone_page_says_so(sim, receiver, token):
    checkout_id = push(sim, token, receiver).json["CheckoutRequestID"]

    reply = http("POST", sim.base_url + f"/phone/{checkout_id}/approve", data=b"")

    assert "That prompt is no longer open." in reply.text
    assert http("GET", sim.base_url + "/phone/nope").status == 404


def test_the_phone_page_can_show_one_phone(sim, receiver, token):
    push(sim, token, receiver, phone=PHONE_MANUAL)
    push(sim, token, receiver, phone="254722000555")

    page = http("GET", sim.base_url + f"/phone/?phone={PHONE_MANUAL}").text

    assert page.count('class="prompt"') == 1
    assert f"?phone={PHONE_MANUAL}" in page


# --- Fault injection ---------------------------------------------------------------------------------


def test_the_next_n_requests_can_fail_with_spike_arrest(sim, receiver, token):
    sim.configure(fail_next=2, fail_with="spike_arrest")

    first = push(sim, token, receiver)
    second = http("GET", sim.base_url + OAUTH, headers=basic())
    third = push(sim, token, receiver)

    assert_daraja_error(first, 500, "500.003.02", "Error Occurred: Spike Arrest Violation")
    assert_daraja_error(second, 500, "500.003.02", "Error Occurred: Spike Arrest Violation")
    assert third.status == 200
    assert sim.config.fail_next == 0


def test_faults_can_target_one_endpoint_and_be_a_non_json_503(sim, receiver, token):
    control(sim, "POST", "config", {"fail_next": 1, "fail_with": "503", "fail_only": "stkpush"})

    assert http("GET", sim.base_url + OAUTH, headers=basic()).status == 200
    reply = push(sim, token, receiver)

    assert reply.status == 503
    assert reply.headers["Content-Type"].startswith("text/html")
    assert sim.transactions == {}


@pytest.mark.parametrize(
    ("kind", "code", "message"),
    [
        ("quota", "500.003.03", "Quota Violation"),
        ("internal", "500.003.1001", "Internal Server Error"),
        ("system_busy", "500.003.02", "System is busy. Please try again in few minutes."),
    ],
)
def test_other_gateway_faults_have_daraja_codes(sim, token, kind, code, message):
    sim.configure(fail_next=1, fail_with=kind)

    assert_daraja_error(query(sim, token, "ws_CO_x"), 500, code, message)


def test_a_reset_connection_gives_the_client_no_response(sim, receiver, token):
    sim.configure(fail_next=1, fail_with="reset")

    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        push(sim, token, receiver)
    assert push(sim, token, receiver).status == 200


def test_slow_responses_exceed_a_client_timeout(sim, receiver, token):
    sim.configure(slow_seconds=1.0, slow_only="stkpush")

    with pytest.raises((TimeoutError, urllib.error.URLError)):
        http("POST", sim.base_url + PUSH, push_body(sim, receiver), headers=bearer(token), timeout=0.2)


def test_a_rate_limit_answers_spike_arrest_above_n_requests_a_second(sim):
    sim.configure(rate_limit_per_second=3)

    statuses = [http("GET", sim.base_url + OAUTH, headers=basic()).status for _ in range(5)]

    assert statuses.count(200) == 3
    assert statuses[3:] == [500, 500]


# --- C2B -----------------------------------------------------------------------------------------------


def register(sim, token, version="v2", **overrides) -> Reply:
    body = {
        "ShortCode": 600984,
        "ResponseType": "Completed",
        "ConfirmationURL": "http://127.0.0.1:9/payments/c2b/confirm/",
        "ValidationURL": "http://127.0.0.1:9/payments/c2b/validate/",
    }
    body.update(overrides)
    return http("POST", sim.base_url + f"/mpesa/c2b/{version}/registerurl", body, headers=bearer(token))


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_c2b_registration_answers_with_daraja_misspelled_key(sim, token, version):
    reply = register(sim, token, version)

    assert reply.status == 200
    assert set(reply.json) == {"OriginatorCoversationID", "ResponseCode", "ResponseDescription"}
    assert reply.json["ResponseCode"] == "0" and reply.json["ResponseDescription"] == "Success"
    assert sim.c2b["registrations"]["600984"]["version"] == version


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ResponseType": "completed"}, "ResponseType"),
        ({"ConfirmationURL": "http://127.0.0.1/mpesa/confirm"}, "ConfirmationURL"),
        ({"ValidationURL": "http://127.0.0.1/Query/"}, "ValidationURL"),
        ({"ShortCode": "abc"}, "ShortCode"),
    ],
)
def test_c2b_registration_validates_its_fields(sim, token, overrides, field):
    assert_daraja_error(register(sim, token, **overrides), 400, "400.002.02", f"Bad Request - Invalid {field}")


def test_c2b_registration_uses_c2b_error_codes_for_tokens_products_and_repeats(sim, token):
    assert_daraja_error(register(sim, "stale"), 400, "400.003.01", "Invalid Access Token")
    sim.configure(c2b_api_version="v1")
    assert register(sim, token, "v2").json["errorCode"] == "401.003.01"
    sim.configure(c2b_mode="production")
    assert register(sim, token, "v1").status == 200
    assert_daraja_error(register(sim, token, "v1"), 500, "500.003.1001", "Urls are already registered")


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_c2b_payment_is_confirmed_with_string_fields_and_a_hidden_msisdn(sim, receiver, token, version):
    register(sim, token, version, ConfirmationURL=receiver.url("/c2b/confirm/"), ValidationURL=receiver.url("/v/"))

    reply = http(
        "POST",
        sim.base_url + f"/mpesa/c2b/{version}/simulate",
        {"ShortCode": 600984, "CommandID": "CustomerPayBillOnline", "Amount": 500, "Msisdn": 254712345678,
         "BillRefNumber": "KTS-2025-0001"},
        headers=bearer(token),
    )  # fmt: skip

    assert reply.json["ResponseDescription"] == "Accept the service request successfully."
    (request,) = receiver.wait_for(1)
    body = request["body"]
    assert request["path"] == "/c2b/confirm/"
    assert all(isinstance(value, str) for value in body.values())
    assert body["TransAmount"] == "500.00" and body["BillRefNumber"] == "KTS-2025-0001"
    assert body["TransactionType"] == "Pay Bill" and body["OrgAccountBalance"] == "500.00"
    assert RECEIPT_RE.match(body["TransID"])
    expected = hashlib.sha256(b"254712345678").hexdigest() if version == "v1" else "2547 ***** 678"
    assert body["MSISDN"] == expected


def test_a_c2b_validation_rejection_means_no_confirmation(sim, receiver, token):
    sim.configure(c2b_external_validation=True)
    register(sim, token, ConfirmationURL=receiver.url("/c2b/confirm/"), ValidationURL=receiver.url("/c2b/validate/"))
    receiver.replies = [{"ResultCode": "C2B00012", "ResultDesc": "Rejected"}]

    control(sim, "POST", "c2b/pay", {"shortcode": 600984, "amount": 100, "msisdn": "254712345678", "bill_ref": "WRONG"})
    (validation,) = receiver.wait_for(1)
    sim.wait_until_idle()

    assert validation["path"] == "/c2b/validate/"
    assert validation["body"]["OrgAccountBalance"] == "" and validation["body"]["BillRefNumber"] == "WRONG"
    assert len(receiver.requests) == 1
    assert sim.c2b["payments"][0]["status"] == "rejected"
    assert sim.c2b["payments"][0]["validation_result"] == "rejected:C2B00012"


def test_an_accepted_c2b_validation_is_confirmed_with_its_third_party_id_echoed(sim, receiver, token):
    sim.configure(c2b_external_validation=True)
    register(sim, token, ConfirmationURL=receiver.url("/c2b/confirm/"), ValidationURL=receiver.url("/c2b/validate/"))
    receiver.replies = [{"ResultCode": "0", "ResultDesc": "Accepted", "ThirdPartyTransID": "our-ref-1"}]

    sim.c2b_pay(shortcode="600984", amount=100, msisdn="254712345678", bill_ref="KTS-2025-0001")

    validation, confirmation = receiver.wait_for(2)
    assert confirmation["path"] == "/c2b/confirm/"
    assert confirmation["body"]["ThirdPartyTransID"] == "our-ref-1"
    assert confirmation["body"]["TransID"] == validation["body"]["TransID"]


# --- Life cycle, determinism, packaging -----------------------------------------------------------------


def test_stop_leaves_no_simulator_threads_behind(receiver):
    sim = Simulator(callback_delay=0, callback_copies=2, callback_copy_interval=0.01).start()
    token = get_token(sim)
    push(sim, token, receiver)
    push(sim, token, receiver, phone=PHONE_MANUAL)
    receiver.wait_for(1)

    sim.stop()

    assert [t.name for t in threading.enumerate() if t.name.startswith("daraja-sim")] == []


def test_seeded_simulators_on_a_frozen_clock_make_identical_ids():
    def run():
        options = {"seed": 42, "start_time": "2026-03-01T09:30:00", "freeze_clock": True, "callback_delay": 0}
        with Simulator(**options) as sim:
            token = get_token(sim)
            reply = push(sim, token, None, phone=PHONE_INSUFFICIENT).json
            other = push(sim, token, None, phone=PHONE_WRONG_PIN).json
            receipt = sim.transaction(push(sim, token, None).json["CheckoutRequestID"])["receipt_number"]
            return token, reply, other, receipt

    first, second = run(), run()

    assert first == second
    assert first[1]["CheckoutRequestID"] == "ws_CO_01032026093000000712345001"


def test_the_phone_table_keys_are_unique_three_digit_endings_and_constants_match():
    assert all(re.fullmatch(r"\d{3}", ending) for ending in PHONE_OUTCOMES)
    assert PHONE_OUTCOMES[PHONE_SUCCESS[-3:]].result_code == 0
    assert PHONE_OUTCOMES[PHONE_CANCELLED[-3:]].result_code == 1032
    assert PHONE_OUTCOMES[PHONE_INSUFFICIENT[-3:]].result_code == 1
    assert PHONE_OUTCOMES[PHONE_WRONG_PIN[-3:]].result_code == 2001
    assert PHONE_OUTCOMES[PHONE_TIMEOUT[-3:]].result_code == 1037
    assert PHONE_OUTCOMES[SANDBOX_TEST_PHONE[-3:]].result_code == 1037
    assert PHONE_OUTCOMES[PHONE_NO_CALLBACK[-3:]].deliver is False
    assert PHONE_OUTCOMES[PHONE_MANUAL[-3:]].manual is True


def test_the_command_line_prints_its_address_and_serves():
    root = Path(__file__).resolve().parents[2]
    command = [sys.executable, "-m", "daraja_simulator", "--port", "0", "--quiet"]

    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as process:  # noqa: S603
        try:
            line = process.stdout.readline().strip()
            match = re.fullmatch(r"Daraja simulator on (http://127\.0\.0\.1:\d+) \(phone page: /phone/\)", line)
            assert match, line
            assert http("GET", match.group(1) + OAUTH, headers=basic()).status == 200
        finally:
            process.terminate()
            returncode = process.wait(timeout=5)

    assert returncode == 0


def test_the_simulator_imports_nothing_from_django():
    code = (
        "import sys, daraja_simulator.server, daraja_simulator.__main__; "
        "print([m for m in sys.modules if m.startswith('django')])"
    )
    root = Path(__file__).resolve().parents[2]

    output = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)  # noqa: S603

    assert output.stdout.strip() == "[]"
