"""A real database outage under a real gunicorn: Paybill (C2B) confirmations posted while PostgreSQL is down
are answered "Success" only once on disk, then stored once each by the replay job, duplicates marked
(QUALITY check 23). The cluster, gunicorn and helpers are test_db_outage.py's."""

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from payments.tests.test_db_outage import app_env, cluster, manage, server, shell  # noqa: F401 - fixtures

pytestmark = [pytest.mark.postgres, pytest.mark.security_check(23)]

SHORTCODE = "600984"
SECRET = "outage-test-secret-" + "y" * 32
STATE = """
import json
from payments.models import C2BConfirmation
rows = list(C2BConfirmation.objects.order_by("trans_id", "pk").values("trans_id", "status", "spool_id"))
print("STATE=" + json.dumps(rows))
"""


@pytest.fixture(autouse=True)
def _c2b_on(app_env):  # noqa: F811 - the imported fixture, extended before gunicorn starts
    app_env.update(MPESA_C2B_SHORTCODE=SHORTCODE, MPESA_C2B_URL_SECRET=SECRET)


def confirm(base, trans_id) -> tuple[int, dict]:
    body = {
        "TransactionType": "Pay Bill",
        "TransID": trans_id,
        "TransTime": "20261205001500",
        "TransAmount": "1500.00",
        "BusinessShortCode": SHORTCODE,
        "BillRefNumber": "KTS-2026-0042",
        "OrgAccountBalance": "1500.00",
        "MSISDN": "2547 ***** 149",
        "FirstName": "JANE",
    }
    request = urllib.request.Request(  # noqa: S310 - our local server
        f"{base}/api/c2b/{SECRET}/confirmation/",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_c2b_confirmations_during_a_database_outage_are_kept_and_stored_once(cluster, app_env, server):  # noqa: F811
    manage(app_env, "migrate", "-v", "0", timeout=120)
    spool = Path(app_env["MPESA_CALLBACK_SPOOL_DIR"])
    success = (200, {"ResultCode": 0, "ResultDesc": "Success"})
    assert confirm(server, "TKB0000001") == success

    cluster.stop("fast")
    during = ["TKD0000001", "TKD0000002", "TKD0000001"]  # and Daraja's duplicate of the first
    for number, trans_id in enumerate(during, start=1):
        assert confirm(server, trans_id) == success
        assert len(list(spool.glob("[!.]*.json"))) == number, "answered Success before it was on disk"

    cluster.start()
    replay = manage(app_env, "replay_callback_spool")
    assert "C2B confirmations 3" in replay, replay

    rows = shell(app_env, STATE, "STATE")
    assert [(r["trans_id"], r["status"], bool(r["spool_id"])) for r in rows] == [
        ("TKB0000001", "received", False),
        ("TKD0000001", "received", True),
        ("TKD0000001", "duplicate", True),
        ("TKD0000002", "received", True),
    ]
    assert list(spool.glob("*.json")) == []
    assert "C2B confirmations 0" in manage(app_env, "replay_callback_spool")
