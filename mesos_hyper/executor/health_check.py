"""Task health checks with Mesos 1.0's semantics (src/health-check/main.cpp).

After ``delay_seconds`` the check runs every ``interval_seconds``, each run bounded by
``timeout_seconds``. A failure inside ``grace_period_seconds`` of the start is ignored while
the task has never been healthy. A success after a failure (or the first one) reports
healthy; every counted failure reports unhealthy; ``consecutive_failures`` failures in a
row ask for the task to be killed, once, and the checker stops. COMMAND checks run inside
the task's VM, in its rootfs (as ``docker exec`` does for the Docker containerizer); HTTP
checks need the pod's network and are not run yet (docs/networking.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from mesos_hyper import log
from mesos_hyper.containerizer.messages import HealthCheckSpec

LOG = logging.getLogger(__name__)
Check = Callable[[float], tuple[bool, str]]  # timeout -> (healthy, why)


class HealthChecker:
    def __init__(
        self,
        spec: HealthCheckSpec,
        check: Check,
        on_health: Callable[[bool, str], None],
        on_kill: Callable[[str], None],
    ) -> None:
        self.spec = spec
        self.check = check
        self.on_health = on_health
        self.on_kill = on_kill
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-check", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self.spec.timeout_seconds + 5)

    def _run(self) -> None:
        spec = self.spec
        started = time.monotonic()
        healthy: bool | None = None
        failures = 0
        if self._stop.wait(spec.delay_seconds):
            return
        while not self._stop.is_set():
            try:
                ok, why = self.check(spec.timeout_seconds)
            except Exception as err:  # a broken check is a failed check
                ok, why = False, str(err)
            if self._stop.is_set():
                return
            if ok:
                failures = 0
                if healthy is not True:
                    healthy = True
                    self.on_health(True, why)
            elif healthy is None and time.monotonic() - started < spec.grace_period_seconds:
                log.event(LOG, "health check failed in the grace period", why=why)
            else:
                failures += 1
                healthy = False
                self.on_health(False, why)
                if failures >= spec.consecutive_failures:
                    self.on_kill(f"Health check failed {failures} times in a row: {why}")
                    return
            if self._stop.wait(spec.interval_seconds):
                return
