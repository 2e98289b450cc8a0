"""M-Pesa Daraja client: a plain package (no models, no views) that the payments code calls.

from mpesa.client import DarajaClient, StkPushRequest
from mpesa.config import get_client          # built from Django settings
from mpesa.callbacks import parse_stk_callback
from mpesa.result_codes import Outcome, outcome_for
from mpesa.errors import DarajaError
"""
