"""The HTTP face of the simulator: Daraja's paths, the control API, the phone page, and ``Simulator``.

sim = Simulator(host="127.0.0.1", port=0, callback_delay=0)
sim.start()
...  # client uses sim.base_url; assertions read sim.transactions and sim.deliveries
sim.stop()
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import socket
import socketserver
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from daraja_simulator.config import SimulatorConfig
from daraja_simulator.engine import ControlError, DarajaError, Engine, Response, error_response, stk_password
from daraja_simulator.outcomes import PHONE_OUTCOMES
from daraja_simulator.phone import PHONE_ACTIONS, format_kes, render_index, render_message_page, render_phone_page

logger = logging.getLogger("daraja_simulator")

# path -> (allowed method, endpoint name used by fault filters)
DARAJA_ROUTES = {
    "/oauth/v1/generate": ("GET", "oauth"),
    "/mpesa/stkpush/v1/processrequest": ("POST", "stkpush"),
    "/mpesa/stkpushquery/v1/query": ("POST", "stkquery"),
    "/mpesa/c2b/v1/registerurl": ("POST", "c2b"),
    "/mpesa/c2b/v2/registerurl": ("POST", "c2b"),
    "/mpesa/c2b/v1/simulate": ("POST", "c2b"),
    "/mpesa/c2b/v2/simulate": ("POST", "c2b"),
}
C2B_PATH = re.compile(r"^/mpesa/c2b/(v1|v2)/(registerurl|simulate)$")
STK_CONTROL_PATH = re.compile(r"^/__sim__/stk/([^/]+)/(resolve|redeliver)$")
PHONE_ACTION_PATH = re.compile(r"^/phone/([^/]+)/([a-z-]+)$")
PHONE_REFRESH_SECONDS = 3

CONTROL_ENDPOINTS = {
    "GET /__sim__/health": "liveness",
    "POST /__sim__/reset": "forget everything; back to the start-up options",
    "GET /__sim__/transactions": "STK transactions by CheckoutRequestID",
    "GET /__sim__/transactions/<CheckoutRequestID>": "one STK transaction",
    "GET /__sim__/deliveries": "every callback delivery attempt",
    "GET /__sim__/requests": "the last 1000 Daraja requests (method, path, status)",
    "GET|POST /__sim__/config": "read or change options at run time",
    "GET|POST /__sim__/clock": '{"advance_seconds": N}',
    "POST /__sim__/next-outcome": '{"phone": "2547...", "result_code": 1032 | "SFC_IC0003" | "manual", "delay": s}',
    "POST /__sim__/stk/<id>/resolve": '{"result_code": 0, "delay": 0, "deliver": true, "force": false}',
    "POST /__sim__/stk/<id>/redeliver": '{"url": null, "delay": 0, "copies": 1}',
    "POST /__sim__/callbacks/forge": '{"url": ..., "body": {...}} or {"url", "checkout_request_id", "amount", ...}',
    "GET /__sim__/c2b": "C2B registrations and payments",
    "POST /__sim__/c2b/pay": '{"shortcode", "amount", "msisdn", "bill_ref", "command_id", "version"}',
    "GET /phone/": "the phone page",
}


class _Server(ThreadingHTTPServer):
    # Request threads are joined on close, so stop() leaves no thread behind.
    daemon_threads = False
    block_on_close = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); offline that can stall for seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = host, port


class _Handler(BaseHTTPRequestHandler):
    server_version = "DarajaSimulator/1.0"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 15  # a connection that never sends a request cannot hold stop() for long

    def setup(self) -> None:
        threading.current_thread().name = "daraja-sim-request"  # so tests can see none outlive stop()
        super().setup()

    @property
    def engine(self) -> Engine:
        return self.server.engine  # type: ignore[attr-defined]

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's signature
        logger.info("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # --- plumbing ------------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: Response) -> None:
        self.close_connection = True
        if response.drop_connection:
            return
        body = response.body
        text = json.dumps(body) if isinstance(body, (dict, list)) else (body or "")
        payload = text.encode("utf-8")
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        query = parse_qs(parts.query, keep_blank_values=True)
        body = self._read_body()
        try:
            if path.startswith("/__sim__"):
                response = self._control(method, path, body)
            elif path == "/phone" or path.startswith("/phone/"):
                response = self._phone(method, path, query)
            elif path == "/" and method == "GET":
                response = Response(200, render_index(self.server.simulator.base_url), content_type="text/html")  # type: ignore[attr-defined]
            else:
                response = self._daraja(method, path, query, body)
        except Exception:
            logger.exception("Simulator failed on %s %s", method, self.path)
            response = Response(500, {"error": "simulator bug; see its log"})
        self._send(response)
        if response.after is not None:
            try:
                response.after()
            except Exception:
                logger.exception("Simulator follow-up failed")

    # --- Daraja ----------------------------------------------------------------------------------------

    def _daraja(self, method: str, path: str, query: dict, body: bytes) -> Response:
        engine = self.engine
        route = DARAJA_ROUTES.get(path)
        if route is None:
            response = _error(engine, "404.001.01", "Resource not found")
            engine.log_request(method, path, response.status, None)
            return response
        allowed, endpoint = route
        fault = engine.injected_fault(endpoint)
        if fault is None:
            delay = engine.slow_seconds(endpoint)
            if delay and engine.workers.stopping.wait(delay):
                fault = Response(0, drop_connection=True)
        if fault is not None:
            engine.log_request(method, path, fault.status, endpoint)
            return fault
        if method != allowed:
            response = _error(engine, "405.001", "Method Not Allowed")
        else:
            authorization = self.headers.get("Authorization")
            content_type = self.headers.get("Content-Type")
            if endpoint == "oauth":
                grant_type = query.get("grant_type", [None])[0]
                response = engine.oauth(grant_type, authorization)
            elif endpoint == "stkpush":
                response = engine.stk_push(authorization, content_type, body)
            elif endpoint == "stkquery":
                response = engine.stk_query(authorization, content_type, body)
            else:
                version, verb = C2B_PATH.match(path).groups()  # type: ignore[union-attr]
                handler = engine.c2b_register if verb == "registerurl" else engine.c2b_simulate
                response = handler(version, authorization, content_type, body)
        engine.log_request(method, path, response.status, endpoint)
        return response

    # --- control API -----------------------------------------------------------------------------------

    def _control(self, method: str, path: str, raw: bytes) -> Response:
        try:
            data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
            if not isinstance(data, dict):
                raise ControlError("the body must be a JSON object")
            return Response(200, self._control_action(method, path.rstrip("/") or "/", data))
        except ControlError as exc:
            return Response(exc.status, {"error": str(exc)})
        except (ValueError, TypeError, KeyError) as exc:
            return Response(400, {"error": f"{type(exc).__name__}: {exc}"})

    def _control_action(self, method: str, path: str, data: dict) -> object:
        engine = self.engine
        sim: Simulator = self.server.simulator  # type: ignore[attr-defined]
        route = (method, path)
        if route == ("GET", "/__sim__"):
            return {"endpoints": CONTROL_ENDPOINTS, "phone_outcomes": _phone_table()}
        if route == ("GET", "/__sim__/health"):
            return {"status": "ok", "now": engine.now_iso()}
        if route == ("POST", "/__sim__/reset"):
            engine.reset()
            return {"status": "reset"}
        if route == ("GET", "/__sim__/transactions"):
            return engine.transactions_snapshot()
        if method == "GET" and path.startswith("/__sim__/transactions/"):
            checkout_id = unquote(path.rsplit("/", 1)[1])
            with engine.lock:
                return engine.transaction(checkout_id).snapshot()
        if route == ("GET", "/__sim__/deliveries"):
            return engine.deliveries_snapshot()
        if route == ("GET", "/__sim__/requests"):
            with engine.lock:
                return list(engine.requests)
        if route == ("GET", "/__sim__/config"):
            return engine.config.as_dict()
        if route == ("POST", "/__sim__/config"):
            return engine.configure(**data).as_dict()
        if path == "/__sim__/clock" and method in ("GET", "POST"):
            if method == "POST":
                sim.advance_clock(float(data.get("advance_seconds", 0)))
            return {"now": engine.now_iso()}
        if route == ("POST", "/__sim__/next-outcome"):
            engine.set_next_outcome(data.get("phone"), data.get("result_code", 0), _opt_float(data.get("delay")))
            return {"status": "queued", "phone": data.get("phone")}
        if route == ("POST", "/__sim__/callbacks/forge"):
            fields = {k: v for k, v in data.items() if k not in ("url", "body")}
            return engine.forge_callback(data.get("url"), data.get("body"), **fields)
        if route == ("GET", "/__sim__/c2b"):
            return engine.c2b_snapshot()
        if route == ("POST", "/__sim__/c2b/pay"):
            return sim.c2b_pay(
                shortcode=str(data.get("shortcode") or data.get("ShortCode") or engine.config.shortcode),
                amount=int(data.get("amount", 1)),
                msisdn=str(data.get("msisdn", "254712345000")),
                bill_ref=str(data.get("bill_ref", "")),
                command_id=str(data.get("command_id", "CustomerPayBillOnline")),
                version=data.get("version"),
            )
        match = STK_CONTROL_PATH.match(path)
        if match and method == "POST":
            checkout_id, verb = unquote(match.group(1)), match.group(2)
            if verb == "resolve":
                return engine.resolve(
                    checkout_id,
                    data.get("result_code", 0),
                    delay=float(data.get("delay") or 0),
                    deliver=data.get("deliver"),
                    force=bool(data.get("force", False)),
                )
            return engine.redeliver(
                checkout_id,
                url=data.get("url"),
                delay=float(data.get("delay") or 0),
                copies=int(data.get("copies", 1)),
            )
        raise ControlError(f"no control endpoint {method} {path}", status=404)

    # --- phone page ------------------------------------------------------------------------------------

    def _phone(self, method: str, path: str, query: dict) -> Response:
        engine = self.engine
        phone = (query.get("phone") or [""])[0] or None
        if method == "GET" and path in ("/phone", "/phone/"):
            page = render_phone_page(
                engine.pending_prompts(phone),
                engine.recent_results(phone),
                phone_filter=phone,
                message=(query.get("msg") or [""])[0] or None,
                refresh_seconds=PHONE_REFRESH_SECONDS,
            )
            return Response(200, page, content_type="text/html; charset=utf-8")
        match = PHONE_ACTION_PATH.match(path)
        if method != "POST" or not match or match.group(2) not in PHONE_ACTIONS:
            return Response(404, render_message_page("Not found", "No such page."), content_type="text/html")
        checkout_id, action = unquote(match.group(1)), match.group(2)
        result_code = PHONE_ACTIONS[action][0]
        try:
            txn = engine.resolve(checkout_id, result_code, by="phone")
            message = _phone_message(txn)
        except ControlError:
            message = "That prompt is no longer open."
        location = "/phone/?" + urlencode({k: v for k, v in (("phone", phone), ("msg", message)) if v})
        return Response(303, "", content_type="text/plain", headers={"Location": location})


def _error(engine: Engine, code: str, message: str) -> Response:
    return error_response(DarajaError(code, message), engine.ids)


def _opt_float(value) -> float | None:
    return None if value is None else float(value)


def _phone_message(txn: dict) -> str:
    amount = format_kes(txn["amount"])
    if txn["result_code"] == 0:
        return f"Paid {amount}: receipt {txn['receipt_number']}."
    return f"{amount} not paid: {txn['result_code']} {txn['result_desc']}"


def _phone_table() -> dict[str, dict]:
    return {
        ending: {"name": o.name, "result_code": o.result_code, "deliver": o.deliver, "manual": o.manual}
        for ending, o in PHONE_OUTCOMES.items()
    }


class Simulator:
    """A Daraja look-alike on its own port. Use ``start()``/``stop()`` or ``with Simulator(...) as sim``.

    ``options`` are the fields of :class:`daraja_simulator.config.SimulatorConfig`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options):
        self.host = host
        self.port = port
        unknown = sorted(set(options) - {f.name for f in dataclasses.fields(SimulatorConfig)})
        if unknown:
            raise TypeError(f"unknown simulator option(s): {', '.join(unknown)}")
        self.engine = Engine(SimulatorConfig(**options))
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ------------------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        server_class = _Server
        if ":" in self.host:
            server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
        server = server_class((self.host, self.port), _Handler)
        server.engine = self.engine  # type: ignore[attr-defined]
        server.simulator = self  # type: ignore[attr-defined]
        self.port = server.server_address[1]
        self.engine.start()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="daraja-sim-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self.engine.workers.stopping.set()  # wakes slow responses and spaced deliveries
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.engine.stop()
        self._server = None
        self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host  # noqa: S104 - only a display name
        if ":" in host:
            host = "[::1]" if host == "::" else f"[{host}]"
        return f"http://{host}:{self.port}"

    # --- state for assertions --------------------------------------------------------------------------

    @property
    def config(self) -> SimulatorConfig:
        return self.engine.config

    @property
    def transactions(self) -> dict[str, dict]:
        """Snapshot of every STK transaction, keyed by CheckoutRequestID, oldest first."""
        return self.engine.transactions_snapshot()

    @property
    def deliveries(self) -> list[dict]:
        """Snapshot of every callback delivery attempt, oldest first."""
        return self.engine.deliveries_snapshot()

    @property
    def requests(self) -> list[dict]:
        with self.engine.lock:
            return list(self.engine.requests)

    @property
    def c2b(self) -> dict:
        return self.engine.c2b_snapshot()

    def transaction(self, checkout_request_id: str) -> dict:
        with self.engine.lock:
            return self.engine.transaction(checkout_request_id).snapshot()

    # --- control ---------------------------------------------------------------------------------------

    def reset(self) -> None:
        self.engine.reset()

    def configure(self, **changes) -> SimulatorConfig:
        return self.engine.configure(**changes)

    def resolve(self, checkout_request_id: str, result_code=0, *, delay=0.0, deliver=None, force=False) -> dict:
        return self.engine.resolve(checkout_request_id, result_code, delay=delay, deliver=deliver, force=force)

    def redeliver(self, checkout_request_id: str, *, url=None, delay=0.0, copies=1) -> dict:
        return self.engine.redeliver(checkout_request_id, url=url, delay=delay, copies=copies)

    def set_next_outcome(self, phone, result_code, delay: float | None = None) -> None:
        self.engine.set_next_outcome(phone, result_code, delay)

    def advance_clock(self, seconds: float) -> datetime:
        """Move the simulator clock forward: tokens expire, open prompts time out, due callbacks fire."""
        moment = self.engine.clock.advance(seconds)
        # Whatever the jump made due (an expiry, a delayed resolution) has happened when this returns.
        deadline = time.monotonic() + 5
        while self.engine.scheduler.has_due_work() and time.monotonic() < deadline:
            time.sleep(0.005)
        return moment

    def now(self) -> datetime:
        return self.engine.clock.now()

    def forge_callback(self, url: str, body: dict | None = None, **fields) -> dict:
        return self.engine.forge_callback(url, body, **fields)

    def c2b_pay(self, *, shortcode: str, amount: int, msisdn: str, bill_ref: str = "", **extra) -> dict:
        return self.engine.c2b_pay(short_code=str(shortcode), amount=amount, msisdn=msisdn, bill_ref=bill_ref, **extra)

    def wait_for_deliveries(self, count: int = 1, timeout: float = 5.0) -> list[dict]:
        """Block until at least ``count`` delivery attempts are recorded; returns them all."""
        return self.engine.wait_for_deliveries(count, timeout)

    def wait_until_idle(self, timeout: float = 5.0) -> None:
        """Block until nothing is due on the scheduler and no delivery is in flight."""
        deadline = time.monotonic() + timeout
        while not self.engine.is_idle():
            if time.monotonic() > deadline:
                raise TimeoutError("simulator still busy")
            time.sleep(0.01)

    # --- helpers for clients under test ----------------------------------------------------------------

    def timestamp(self) -> str:
        """Now on the simulator clock as Daraja's Timestamp (YYYYMMDDHHmmss, EAT)."""
        return self.now().strftime("%Y%m%d%H%M%S")

    def password(self, timestamp: str, shortcode: str | None = None) -> str:
        """base64(shortcode + passkey + timestamp) for a configured shortcode."""
        code = str(shortcode or self.config.shortcode)
        return stk_password(code, self.config.merchants()[code], timestamp)
