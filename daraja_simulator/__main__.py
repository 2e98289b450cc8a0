"""``python -m daraja_simulator --host 127.0.0.1 --port 8765``: the local Daraja as its own process."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading

from daraja_simulator.config import SimulatorConfig
from daraja_simulator.server import Simulator


def build_parser() -> argparse.ArgumentParser:
    defaults = SimulatorConfig()
    parser = argparse.ArgumentParser(prog="python -m daraja_simulator", description="Local M-Pesa Daraja simulator")
    parser.add_argument("--host", default=os.environ.get("DARAJA_SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("DARAJA_SIM_PORT", "8765")))
    parser.add_argument("--consumer-key", help=f"default: {defaults.consumer_key}")
    parser.add_argument("--consumer-secret", help=f"default: {defaults.consumer_secret}")
    parser.add_argument("--shortcode", help=f"default: {defaults.shortcode}")
    parser.add_argument("--passkey", help=f"default: {defaults.passkey}")
    parser.add_argument(
        "--callback-delay", type=float, help=f"seconds before a callback is sent (default {defaults.callback_delay})"
    )
    parser.add_argument(
        "--manual",
        action="store_true",
        help="numbers not in the phone table wait for an answer on the phone page (default: they succeed)",
    )
    parser.add_argument("--seed", type=int, default=None, help="make ids and tokens reproducible")
    parser.add_argument(
        "--options",
        default=os.environ.get("DARAJA_SIM_OPTIONS", ""),
        help='JSON object of any other options, e.g. \'{"query_pending_mode": "500"}\'',
    )
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = json.loads(args.options) if args.options.strip() else {}
    for name in ("consumer_key", "consumer_secret", "shortcode", "passkey", "callback_delay"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.manual:
        options["default_outcome"] = "manual"
    if args.seed is not None:
        options["seed"] = args.seed
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    try:
        sim = Simulator(host=args.host, port=args.port, **options).start()
    except (OSError, TypeError, ValueError) as exc:
        print(f"Daraja simulator could not start: {exc}", file=sys.stderr)
        return 2
    print(f"Daraja simulator on {sim.base_url} (phone page: /phone/)", flush=True)
    try:
        while not stopped.wait(0.5):
            pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
