"""Every behaviour knob of the simulator, with Daraja-faithful defaults.

Options are passed as keyword arguments to ``Simulator(...)`` and can be changed at run time with
``sim.configure(...)`` or ``POST /__sim__/config``. Where daraja.md marks a behaviour UNCONFIRMED, the
default is the documented or observed one and the alternatives are options.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from daraja_simulator.outcomes import NAMED_OUTCOMES

DEFAULT_CONSUMER_KEY = "simulator-consumer-key"
DEFAULT_CONSUMER_SECRET = "simulator-consumer-secret"  # noqa: S105 - a public, fake credential
SANDBOX_SHORTCODE = "174379"
SANDBOX_PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"

CHOICES = {
    "shortcode_type": ("paybill", "till"),
    "oauth_failure_body": ("envelope", "empty"),
    "long_field_policy": ("reject", "accept", "callback_1025"),
    "decimal_amount_policy": ("reject", "truncate"),
    "lock_policy": ("sync", "callback_1001", "off"),
    "callback_amount_type": ("float", "int"),
    "query_pending_mode": ("4999", "500", "mixed"),
    "fail_with": ("spike_arrest", "system_busy", "quota", "internal", "503", "reset"),
    "fail_only": (None, "oauth", "stkpush", "stkquery", "c2b"),
    "slow_only": (None, "oauth", "stkpush", "stkquery", "c2b"),
    "c2b_mode": ("sandbox", "production"),
    "c2b_api_version": (None, "v1", "v2"),
}


@dataclass
class SimulatorConfig:
    # --- Credentials -------------------------------------------------------------------------------
    consumer_key: str = DEFAULT_CONSUMER_KEY
    consumer_secret: str = DEFAULT_CONSUMER_SECRET
    extra_apps: dict[str, str] = field(default_factory=dict)  # more consumer key -> secret pairs
    shortcode: str = SANDBOX_SHORTCODE
    passkey: str = SANDBOX_PASSKEY
    # For a till, BusinessShortCode is the store (HO) number and PartyB the till (daraja.md §3.1).
    shortcode_type: str = "paybill"
    till_number: str | None = None
    extra_shortcodes: dict[str, str] = field(default_factory=dict)  # more paybill shortcode -> passkey

    # --- OAuth -------------------------------------------------------------------------------------
    token_ttl: int = 3599
    expires_in_as_number: bool = False  # real responses carry the string "3599"
    token_revokes_previous: bool = False  # the FAQ says so; unverified, so off by default
    app_lacks_product: bool = False  # API calls answer 401.003.01 "no apiproduct match found"
    oauth_failure_body: str = "envelope"  # or "empty": a bare 400, as some reports describe

    # --- STK push ----------------------------------------------------------------------------------
    callback_delay: float = 3.0
    timeout_callback_delay: float | None = None  # delay for 1037 outcomes; None = callback_delay (26 s is real)
    manual_expiry_seconds: float = 90.0
    default_outcome: str = "success"  # for endings not in the phone table; "manual" for a human demo
    long_field_policy: str = "reject"  # AccountReference > 12 or TransactionDesc > 13 characters
    decimal_amount_policy: str = "reject"
    max_amount: int = 250_000
    strict_callback_url: bool = False  # https only, no uppercase (unconfirmed Daraja rules)
    timestamp_max_skew: float | None = None  # seconds from the simulator's EAT clock; None = unchecked
    lock_policy: str = "sync"  # a push to a phone with an open prompt
    same_amount_window: float | None = None  # seconds; same phone + amount inside it -> callback 17
    check_product_assignment: bool = True  # BuyGoods on a paybill -> 2028; wrong PartyB -> SFC_IC0003

    # --- Callbacks ---------------------------------------------------------------------------------
    callback_balance: str | int | float = "no_value"  # "no_value", "absent" or a number
    callback_amount_type: str = "float"
    shuffle_metadata: bool = False  # items in random order: clients must read them by Name
    callback_copies: int = 1
    callback_copy_interval: float = 0.0
    callback_retry_until_2xx: bool = False
    callback_retry_interval: float = 1.0
    callback_max_attempts: int = 5
    deliver_before_response: bool = False
    forwarded_for: str | None = None  # sent as X-Forwarded-For, e.g. "196.201.212.69"
    callback_timeout: float = 10.0

    # --- STK query ---------------------------------------------------------------------------------
    query_pending_mode: str = "4999"
    query_flaky_percent: float = 0.0
    query_disagrees: bool = False  # sandbox quirk: a paid transaction is reported failed by the query

    # --- Fault injection (Daraja endpoints only; never the control API or the phone page) ----------
    fail_next: int = 0
    fail_with: str = "spike_arrest"
    fail_only: str | None = None
    slow_seconds: float = 0.0
    slow_only: str | None = None
    rate_limit_per_second: float | None = None

    # --- C2B ---------------------------------------------------------------------------------------
    c2b_mode: str = "sandbox"  # "production" refuses re-registration
    c2b_api_version: str | None = None  # the app's product; the other version answers 401.003.01
    c2b_external_validation: bool = False
    c2b_validation_timeout: float = 8.0

    # --- Determinism -------------------------------------------------------------------------------
    seed: int | None = None
    start_time: str | None = None  # ISO 8601; naive means EAT
    freeze_clock: bool = False  # time moves only through /__sim__/clock

    def __post_init__(self) -> None:
        # JSON and env values arrive as numbers; Daraja compares shortcodes as text.
        self.shortcode = str(self.shortcode)
        if self.till_number is not None:
            self.till_number = str(self.till_number)
        self.extra_shortcodes = {str(k): str(v) for k, v in self.extra_shortcodes.items()}

    def validate(self) -> None:
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        balance = self.callback_balance
        if isinstance(balance, bool) or (isinstance(balance, str) and balance not in ("no_value", "absent")):
            raise ValueError('callback_balance must be "no_value", "absent" or a number')
        if self.callback_copies < 1 or self.callback_max_attempts < 1:
            raise ValueError("callback_copies and callback_max_attempts must be at least 1")
        if not 0 <= self.query_flaky_percent <= 100:
            raise ValueError("query_flaky_percent must be between 0 and 100")
        if self.default_outcome not in NAMED_OUTCOMES:
            raise ValueError(f"default_outcome must be one of {sorted(NAMED_OUTCOMES)}")

    def merchants(self) -> dict[str, str]:
        """Shortcode -> passkey for every configured merchant."""
        return {**{str(k): v for k, v in self.extra_shortcodes.items()}, str(self.shortcode): self.passkey}

    def apps(self) -> dict[str, str]:
        return {**self.extra_apps, self.consumer_key: self.consumer_secret}

    def updated(self, **changes) -> SimulatorConfig:
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown option(s): {', '.join(unknown)}")
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
