"""The shared cache, and a per-address counter kept in it.

`OutageTolerantRedisCache` is the cache backend whenever REDIS_URL is set. Nothing we keep in the cache is the
only copy of anything: throttle counters, the Daraja token, the staff home's figures. So when Redis cannot be
reached the cache behaves as an empty cache that forgets what it is given (reads miss, writes are dropped)
and the request carries on, instead of every throttled API call and the pay page answering 500. One warning
per process per CACHE_OUTAGE_WARNING_SECONDS says so; after a failure the cache is not tried again for
CACHE_RETRY_SECONDS, so a Redis host that drops packets costs one timeout, not one per cache call.

What that means for limits is in the README ("When Redis is down"): counters are not kept, so throttles let
requests through; the failed-login lockout (django-axes) and the M-Pesa prompt limits live in the database
and still hold.
"""

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

OUTAGE = (RedisConnectionError, RedisTimeoutError)


class OutageTolerantRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._skip_until = 0.0
        self._warned_at = None

    def _unavailable(self) -> bool:
        return time.monotonic() < self._skip_until

    def _outage(self, operation: str, error: Exception) -> None:
        now = time.monotonic()
        self._skip_until = now + settings.CACHE_RETRY_SECONDS
        if self._warned_at is None or now - self._warned_at >= settings.CACHE_OUTAGE_WARNING_SECONDS:
            self._warned_at = now
            logger.warning(
                "Cache unavailable (%s: %s): carrying on without it; throttle counters are not kept meanwhile.",
                operation,
                error,
            )

    def _call(self, operation: str, missing, *args, **kwargs):
        if self._unavailable():
            return missing
        try:
            return getattr(super(), operation)(*args, **kwargs)
        except OUTAGE as error:
            self._outage(operation, error)
            return missing

    # An unreachable cache answers as an empty one: a miss for every read, and `add` succeeds because the key
    # is not there (so a caller that uses add as "first time in this window" lets the request through).
    def get(self, key, default=None, version=None):
        return self._call("get", default, key, default, version=version)

    def get_many(self, keys, version=None):
        return self._call("get_many", {}, keys, version=version)

    def has_key(self, key, version=None):
        return self._call("has_key", False, key, version=version)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("add", True, key, value, timeout, version=version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set", None, key, value, timeout, version=version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        # The keys that could not be stored: all of them.
        return self._call("set_many", list(data), data, timeout, version=version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("touch", False, key, timeout, version=version)

    def delete(self, key, version=None):
        return self._call("delete", False, key, version=version)

    def delete_many(self, keys, version=None):
        return self._call("delete_many", None, keys, version=version)

    def clear(self):
        return self._call("clear", False)

    def incr(self, key, delta=1, version=None):
        if self._unavailable():
            raise ValueError(f"Key '{key}' not found (cache unavailable)")
        try:
            return super().incr(key, delta, version=version)
        except OUTAGE as error:
            self._outage("incr", error)
            # As for a key the cache does not hold: Django's contract for incr.
            raise ValueError(f"Key '{key}' not found (cache unavailable)") from None


PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "10/hour" -> (10, 3600), as DRF reads its throttle rates (only the period's first letter counts)."""
    number, period = rate.split("/")
    return int(number), PERIODS[period.strip()[0].lower()]


def rate_limit_hit(*, scope: str, ident: str, rate: str) -> int:
    """Count one request by `ident` in the current fixed window of `rate`; 0 when it is allowed, else the
    seconds until the window ends. With the cache unavailable nothing is counted and every request is allowed."""
    limit, period = parse_rate(rate)
    now = int(time.time())
    window = now // period
    key = f"ratelimit:{scope}:{ident}:{window}"
    cache.add(key, 0, timeout=period + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr, or the cache is down
        return 0
    if count <= limit:
        return 0
    return max(1, (window + 1) * period - now)
