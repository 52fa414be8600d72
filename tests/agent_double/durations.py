"""stout's `Duration` text form, which the agent puts into executor env vars.

The ECP sees e.g. MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD="5secs"; a test must
see the same spelling the 1.0.4 agent produces (stout/duration.hpp <<).
"""

from __future__ import annotations

NS = 1
US = 1_000
MS = 1_000_000
SECS = 1_000_000_000
MINS = 60 * SECS
HRS = 60 * MINS
DAYS = 24 * HRS
WEEKS = 7 * DAYS

# (bucket upper bound, unit of the bucket, next smaller unit)
_BUCKETS: tuple[tuple[int, tuple[int, str], tuple[int, str]], ...] = (
    (MS, (US, "us"), (NS, "ns")),
    (SECS, (MS, "ms"), (US, "us")),
    (MINS, (SECS, "secs"), (MS, "ms")),
    (HRS, (MINS, "mins"), (SECS, "secs")),
    (DAYS, (HRS, "hrs"), (MINS, "mins")),
    (WEEKS, (DAYS, "days"), (HRS, "hrs")),
)


def _number(value: float) -> str:
    """C++ ostream with precision(digits10 = 15), default float format."""
    return f"{value:.15g}"


def format_duration(nanoseconds: int) -> str:
    """Render a duration exactly as `stream << Duration` does in stout."""
    sign = "-" if nanoseconds < 0 else ""
    ns = abs(nanoseconds)
    if ns < US:
        return f"{sign}{ns}ns"
    for upper, (unit, name), (smaller, smaller_name) in _BUCKETS:
        if ns < upper:
            if ns % unit != 0 and ns % smaller == 0:
                return f"{sign}{_number(ns / smaller)}{smaller_name}"
            # The 'us' bucket uses ns as the fallback unit, printed as int.
            if unit == US and ns % US != 0:
                return f"{sign}{ns}ns"
            return f"{sign}{_number(ns / unit)}{name}"
    if ns % WEEKS != 0 and ns % DAYS == 0:
        return f"{sign}{_number(ns / DAYS)}days"
    return f"{sign}{_number(ns / WEEKS)}weeks"
