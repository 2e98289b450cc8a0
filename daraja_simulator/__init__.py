"""A local stand-in for Safaricom's M-Pesa Daraja API, for development and tests without internet.

It speaks Daraja's wire format (OAuth, STK push, STK query, C2B URL registration and simulation), sends
callbacks from a background thread, and adds a control API under ``/__sim__/`` and a phone page under
``/phone/``. Python standard library only: it runs as its own process and is never routed by Django.

    from daraja_simulator.server import Simulator

    with Simulator(callback_delay=0) as sim:
        ...  # point the client at sim.base_url
"""

from daraja_simulator.server import Simulator

__all__ = ["Simulator"]
