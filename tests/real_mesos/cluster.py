"""A real ``mesos-master`` and ``mesos-agent --containerizers=external`` (1.0.4) on
loopback ports, started by a test and stopped with everything they started.

Mesos comes from ``scripts/build-mesos.sh`` (``MESOS_HOME``, default /opt/mesos-1.0.4).
The agent runs our ECP as a 1.0.4 agent does; the ECP and its executors inherit the
agent's environment, so a test's state root and pod network namespace reach them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.registry_fixtures import free_port

MESOS_HOME = Path(os.environ.get("MESOS_HOME", "/opt/mesos-1.0.4"))
ECP = Path(sys.executable).with_name("mesos-hyper-containerizer")
RESOURCES = "cpus:2;mem:4096;disk:20000;ports:[31000-32000]"


def missing() -> str | None:
    """Why the real tier cannot run here, or None."""
    for binary in ("mesos-master", "mesos-agent"):
        if not (MESOS_HOME / "sbin" / binary).exists():
            return f"{MESOS_HOME}/sbin/{binary} is missing: run scripts/build-mesos.sh"
    return None


@dataclass
class Process:
    name: str
    argv: list[str]
    env: Mapping[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Cluster:
    master: str  # host:port
    agent: str
    agent_work: Path
    master_proc: Process
    agent_proc: Process

    def agent_state(self) -> dict[str, Any]:
        return requests.get(f"http://{self.agent}/state", timeout=10).json()  # type: ignore[no-any-return]

    def master_state(self) -> dict[str, Any]:
        return requests.get(f"http://{self.master}/state", timeout=10).json()  # type: ignore[no-any-return]

    def completed_executors(self) -> list[str]:
        state = self.agent_state()
        return [
            e["id"]
            for f in (*state.get("frameworks", []), *state.get("completed_frameworks", []))
            for e in f.get("completed_executors", [])
        ]

    def restart_agent(self, sig: int = signal.SIGKILL) -> None:
        """Kill the agent (SIGKILL: as a crash) and start it again; it recovers."""
        self.agent_proc.stop(sig)
        self.agent_proc.start()
        _wait_until(
            lambda: _agent_registered(self.master), 120, "the agent re-registered", self.agent_proc
        )


def _agent_registered(master: str) -> bool:
    try:
        state = requests.get(f"http://{master}/state", timeout=5).json()
    except (requests.RequestException, ValueError):
        return False
    return any(s.get("active") for s in state.get("slaves", []))


def _wait_until(predicate: Any, timeout: float, what: str, proc: Process) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.proc is not None and proc.proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.proc.returncode}):\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not {what} within {timeout}s:\n{proc.tail()}")
        time.sleep(0.5)


@contextlib.contextmanager
def running_cluster(
    workdir: Path, env: Mapping[str, str], ecp: Path = ECP, agent_flags: Sequence[str] = ()
) -> Iterator[Cluster]:
    """Master and agent up and the agent registered; both stopped on the way out."""
    why = missing()
    if why:
        raise RuntimeError(why)
    master_port, agent_port = free_port(), free_port()
    (workdir / "master").mkdir(parents=True, exist_ok=True)
    (workdir / "agent").mkdir(parents=True, exist_ok=True)
    common = {**env, "GLOG_minloglevel": "0"}
    master = Process(
        "mesos-master",
        [
            str(MESOS_HOME / "sbin/mesos-master"),
            "--ip=127.0.0.1",
            f"--port={master_port}",
            f"--work_dir={workdir / 'master'}",
            "--registry=in_memory",
        ],
        common,
        workdir / "master.log",
    )
    agent = Process(
        "mesos-agent",
        [
            str(MESOS_HOME / "sbin/mesos-agent"),
            f"--master=127.0.0.1:{master_port}",
            "--ip=127.0.0.1",
            f"--port={agent_port}",
            f"--work_dir={workdir / 'agent'}",
            "--containerizers=external",
            f"--containerizer_path={ecp}",
            "--launcher=posix",
            "--systemd_enable_support=false",
            "--switch_user=false",
            f"--resources={RESOURCES}",
            "--executor_registration_timeout=2mins",
            "--recover=reconnect",
            "--strict=false",
            *agent_flags,
        ],
        common,
        workdir / "agent.log",
    )
    master.start()
    try:
        _wait_until(
            lambda: _answers(f"http://127.0.0.1:{master_port}/state"),
            60,
            "the master up",
            master,
        )
        agent.start()
        try:
            _wait_until(
                lambda: _agent_registered(f"127.0.0.1:{master_port}"),
                120,
                "the agent registered",
                agent,
            )
            yield Cluster(
                f"127.0.0.1:{master_port}",
                f"127.0.0.1:{agent_port}",
                workdir / "agent",
                master,
                agent,
            )
        finally:
            agent.stop(signal.SIGUSR1, timeout=60)  # 1.0.4: shut every executor down, exit
            agent.stop()
    finally:
        master.stop()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.RequestException:
        return False
