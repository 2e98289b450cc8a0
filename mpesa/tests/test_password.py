import base64
from datetime import datetime, timedelta, timezone

import pytest

from mpesa.client import SANDBOX_PASSKEY, eat_timestamp, stk_password

# The Password in Safaricom's own STK sample request (daraja.md 3.1): 174379 + sandbox passkey + 20160216165627.
SAFARICOM_SAMPLE_PASSWORD = (
    "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEwZjc4ZTZiNzJhZGExZWQyYzkxOTIwMTYwMjE2MTY1NjI3"
)


def test_the_password_matches_safaricoms_own_sample():
    assert stk_password("174379", SANDBOX_PASSKEY, "20160216165627") == SAFARICOM_SAMPLE_PASSWORD


def test_the_password_is_shortcode_passkey_and_timestamp_in_plain_text():
    decoded = base64.b64decode(stk_password("600000", "secret-passkey", "20240101120000")).decode()
    assert decoded == "600000secret-passkey20240101120000"


def test_the_timestamp_is_east_africa_time_whatever_the_servers_zone():
    late_evening_utc = datetime(2024, 1, 1, 21, 30, 5, tzinfo=timezone.utc)
    assert eat_timestamp(late_evening_utc) == "20240102003005"


def test_the_timestamp_ignores_the_zone_the_clock_reports_in():
    moment = datetime(2024, 1, 2, 0, 30, 5, tzinfo=timezone(timedelta(hours=3)))
    assert eat_timestamp(moment) == eat_timestamp(moment.astimezone(timezone(timedelta(hours=-5))))
    assert eat_timestamp(moment) == "20240102003005"


def test_a_naive_clock_is_refused_rather_than_guessed():
    with pytest.raises(ValueError, match="aware"):
        eat_timestamp(datetime(2024, 1, 1, 12, 0, 0))
