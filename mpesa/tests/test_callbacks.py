import json
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from mpesa.callbacks import MalformedCallback, StkCallback, parse_stk_callback
from mpesa.result_codes import Outcome

NAIROBI = ZoneInfo("Africa/Nairobi")

# daraja.md 4.2, byte for byte: Amount 1.00, a Balance item without a Value, numbers for date and phone.
SUCCESS_BODY = b"""{"Body": {"stkCallback": {
   "MerchantRequestID": "29115-34620561-1",
   "CheckoutRequestID": "ws_CO_191220191020363925",
   "ResultCode": 0,
   "ResultDesc": "The service request is processed successfully.",
   "CallbackMetadata": {"Item": [
      {"Name": "Amount", "Value": 1.00},
      {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"},
      {"Name": "Balance"},
      {"Name": "TransactionDate", "Value": 20191219102115},
      {"Name": "PhoneNumber", "Value": 254708374149}]}}}}"""

# daraja.md 4.3: failures omit CallbackMetadata.
FAILURE_BODY = b"""{"Body": {"stkCallback": {"MerchantRequestID": "f1e2-4b95-a71d-b30d3cdbb7a7942864",
  "CheckoutRequestID": "ws_CO_21072024125243250722943992",
  "ResultCode": 1032, "ResultDesc": "Request cancelled by user"}}}"""


def _body(result_code=0, items=None, **overrides):
    callback = {
        "MerchantRequestID": "29115-34620561-1",
        "CheckoutRequestID": "ws_CO_191220191020363925",
        "ResultCode": result_code,
        "ResultDesc": "whatever",
        **overrides,
    }
    if items is not None:
        callback["CallbackMetadata"] = {"Item": items}
    return {"Body": {"stkCallback": callback}}


def test_a_success_callback_gives_amount_receipt_date_and_phone():
    callback = parse_stk_callback(SUCCESS_BODY)
    assert callback == StkCallback(
        merchant_request_id="29115-34620561-1",
        checkout_request_id="ws_CO_191220191020363925",
        result_code="0",
        result_description="The service request is processed successfully.",
        amount=Decimal("1.00"),
        receipt_number="NLJ7RT61SV",
        transaction_date=datetime(2019, 12, 19, 10, 21, 15, tzinfo=NAIROBI),
        phone="254708374149",
        raw={},
    )
    assert callback.outcome is Outcome.PAID
    assert callback.is_paid


def test_the_transaction_date_is_aware_and_in_nairobi_time():
    moment = parse_stk_callback(SUCCESS_BODY).transaction_date
    assert moment.utcoffset().total_seconds() == 3 * 3600
    assert moment.isoformat() == "2019-12-19T10:21:15+03:00"


def test_a_balance_item_without_a_value_is_tolerated():
    callback = parse_stk_callback(SUCCESS_BODY)
    assert "Balance" in callback.metadata
    assert callback.metadata["Balance"] is None


def test_the_raw_body_is_kept_for_storage():
    callback = parse_stk_callback(SUCCESS_BODY)
    assert callback.raw["Body"]["stkCallback"]["CheckoutRequestID"] == "ws_CO_191220191020363925"


def test_an_already_decoded_body_with_float_amounts_gives_the_same_result():
    from_bytes = parse_stk_callback(SUCCESS_BODY)
    from_dict = parse_stk_callback(json.loads(SUCCESS_BODY))
    assert from_dict == from_bytes
    assert from_dict.amount == Decimal("1.00")
    assert str(from_dict.amount) == "1.00"


def test_a_text_body_is_accepted_too():
    assert parse_stk_callback(SUCCESS_BODY.decode()).receipt_number == "NLJ7RT61SV"


def test_items_are_read_by_name_not_by_position():
    items = [
        {"Name": "PhoneNumber", "Value": 254110000001},
        {"Name": "TransactionDate", "Value": 20240704091500},
        {"Name": "MpesaReceiptNumber", "Value": "SG43ABC12X"},
        {"Name": "Amount", "Value": 10500.00},
    ]
    callback = parse_stk_callback(_body(0, items))
    assert callback.phone == "254110000001"
    assert callback.receipt_number == "SG43ABC12X"
    assert callback.amount == Decimal("10500.00")
    assert callback.transaction_date == datetime(2024, 7, 4, 9, 15, tzinfo=NAIROBI)


def test_a_failure_callback_without_metadata_has_no_amount_or_receipt():
    callback = parse_stk_callback(FAILURE_BODY)
    assert callback.result_code == "1032"
    assert callback.result_description == "Request cancelled by user"
    assert callback.outcome is Outcome.FAILED
    assert callback.member_message == "You cancelled the M-Pesa prompt."
    assert (callback.amount, callback.receipt_number, callback.transaction_date, callback.phone) == (
        None,
        None,
        None,
        None,
    )
    assert callback.metadata == {}


def test_a_string_result_code_is_kept_as_a_string():
    callback = parse_stk_callback(_body("SFC_IC0003", ResultDesc="The operator does not exist."))
    assert callback.result_code == "SFC_IC0003"
    assert callback.outcome is Outcome.FAILED


def test_a_string_zero_is_paid_like_an_int_zero():
    assert parse_stk_callback(_body("0", [])).is_paid


def test_an_unlisted_result_code_is_never_paid():
    callback = parse_stk_callback(_body(7777))
    assert callback.result_code == "7777"
    assert callback.outcome is Outcome.FAILED


@pytest.mark.parametrize("value", ["1.00", "1", 1, Decimal("1.0")])
def test_amounts_come_out_as_decimals_with_cents(value):
    callback = parse_stk_callback(_body(0, [{"Name": "Amount", "Value": value}]))
    assert callback.amount == Decimal("1.00")
    assert str(callback.amount) == "1.00"


def test_odd_metadata_values_become_none_instead_of_crashing():
    items = [
        {"Name": "Amount", "Value": "one shilling"},
        {"Name": "TransactionDate", "Value": "yesterday"},
        {"Name": "MpesaReceiptNumber", "Value": ""},
        {"Name": "PhoneNumber"},
        {"Value": "an item without a name"},
        "not even an object",
    ]
    callback = parse_stk_callback(_body(0, items))
    assert (callback.amount, callback.transaction_date, callback.receipt_number, callback.phone) == (
        None,
        None,
        None,
        None,
    )


def test_a_short_transaction_date_is_not_guessed():
    assert parse_stk_callback(_body(0, [{"Name": "TransactionDate", "Value": 2019121910211}])).transaction_date is None


def test_a_single_item_that_is_not_wrapped_in_a_list_is_read():
    body = _body(0)
    body["Body"]["stkCallback"]["CallbackMetadata"] = {"Item": {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"}}
    assert parse_stk_callback(body).receipt_number == "NLJ7RT61SV"


def test_a_string_phone_number_is_kept_as_given():
    assert parse_stk_callback(_body(0, [{"Name": "PhoneNumber", "Value": "254708374149"}])).phone == "254708374149"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b"{}",
        {"Body": {}},
        {"Body": {"stkCallback": "yes"}},
        {"Result": {"ResultCode": 0}},
        _body(0, CheckoutRequestID=""),
        _body(0, CheckoutRequestID=None),
        _body(0, MerchantRequestID=None),
        _body(None),
        _body(True),
        _body(0.0),
        _body("  "),
        {"Body": {"stkCallback": {**_body(0)["Body"]["stkCallback"], "CallbackMetadata": "none"}}},
        {"Body": {"stkCallback": {**_body(0)["Body"]["stkCallback"], "CallbackMetadata": {"Item": "none"}}}},
        12,
    ],
)
def test_a_body_that_is_not_an_stk_callback_is_malformed(body):
    with pytest.raises(MalformedCallback):
        parse_stk_callback(body)


def test_malformed_callback_is_a_value_error():
    assert issubclass(MalformedCallback, ValueError)
