"""Helpers for the PostgreSQL concurrency tests."""

import threading

from django.db import connections


def run_together(functions):
    """Run each function in its own thread, released together by a barrier; return the errors raised.

    Each thread closes its database connections, as a real worker would.
    """
    barrier = threading.Barrier(len(functions))
    errors = []

    def run(function):
        try:
            barrier.wait(timeout=30)
            function()
        except Exception as error:  # noqa: BLE001 - collected and asserted by the caller
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(f,)) for f in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
