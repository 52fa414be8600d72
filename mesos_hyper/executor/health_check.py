"""Task health checks with Mesos 1.0's semantics (src/health-check/main.cpp).

After ``delay_seconds`` the check runs every ``interval_seconds``, each run bounded by
``timeout_seconds``. A failure inside ``grace_period_seconds`` of the start is ignored while
the task has never been healthy. A success after a failure (or the first one) reports
healthy; every counted failure reports unhealthy; ``consecutive_failures`` failures in a
row ask for the task to be killed, once, and the checker stops. COMMAND checks run inside
the task's VM, in its rootfs (as ``docker exec`` does for the Docker containerizer). HTTP
and TCP checks connect to the pod's own address from the pods' network namespace, the
way Mesos 1.1 connects to 127.0.0.1 inside the task's: the port is the one the task
listens on in its VM.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable

from mesos_hyper import log
from mesos_hyper.model.messages import HealthCheckSpec
from vmctl.network.netns import run_in_netns

LOG = log.get(__name__)
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


def tcp_probe(netns: str | None, host: str, port: int) -> Check:
    """Healthy when a TCP connection to ``host:port`` opens within the timeout."""

    def check(timeout: float) -> tuple[bool, str]:
        def connect() -> tuple[bool, str]:
            try:
                socket.create_connection((host, port), timeout=timeout).close()
            except OSError as err:
                return False, f"cannot connect to {host}:{port}: {err.strerror or err}"
            return True, f"connected to {host}:{port}"

        return run_in_netns(netns, connect)

    return check


def http_probe(netns: str | None, host: str, spec: HealthCheckSpec) -> Check:
    """Healthy on one of ``http_statuses``, or any 2xx/3xx when there are none (Mesos 1.1)."""
    assert spec.port is not None
    url = f"{spec.http_scheme}://{host}:{spec.port}{spec.http_path}"

    def check(timeout: float) -> tuple[bool, str]:
        def get() -> tuple[bool, str]:
            if spec.http_scheme == "https":  # like curl -k: the pod's certificate is its own
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    host, spec.port, timeout=timeout, context=context
                )
            else:
                conn = http.client.HTTPConnection(host, spec.port, timeout=timeout)
            try:
                conn.request("GET", spec.http_path, headers={"User-Agent": "mesos-hyper"})
                status = conn.getresponse().status
            except (OSError, http.client.HTTPException) as err:
                return False, f"GET {url} failed: {err}"
            finally:
                conn.close()
            if spec.http_statuses:
                ok = status in spec.http_statuses
            else:
                ok = 200 <= status < 400
            return ok, f"GET {url} answered {status}"

        return run_in_netns(netns, get)

    return check
