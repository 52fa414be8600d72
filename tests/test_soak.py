"""A short soak (bench/soak.py): each fault kind once, in turn, through the agent double.
Every task must reach a terminal state and no container may leave anything behind.

The bench runs as a subprocess: it restarts libvirtd, makes its own network namespaces,
registry and roots, and removes them; its summary is the failure message.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.vm
REPO = Path(__file__).resolve().parent.parent
SOAK = REPO / "bench" / "soak.py"
SEED = 20261201  # fixed: a failure names the same schedule and moments when rerun
TIMEOUT_S = 300  # about 2 minutes on a 2-core TCG host


def _bench() -> ModuleType:
    """bench/ is no package: the module is loaded from its file (for its fault list)."""
    name = "mesos_hyper_bench_soak"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SOAK)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_every_fault_ends_its_task_and_leaves_nothing_behind(tmp_path, no_leaks):
    faults = _bench().FAULTS
    report_path = tmp_path / "soak.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MESOS_HYPER_NETNS", None)  # the soak makes its own namespaces
    cmd = [
        sys.executable,
        str(SOAK),
        "--cycles",
        str(len(faults)),
        "--round-robin",
        "--seed",
        str(SEED),
        "--command",
        "sleep 30",  # long enough that every fault finds something to hit
        "--json",
        str(report_path),
    ]
    with subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            out, err = proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.terminate()  # SIGTERM: the soak still cleans up and brings libvirtd back
            out, err = proc.communicate(timeout=180)
            pytest.fail(f"the soak ran over {TIMEOUT_S}s\n{out}\n{err[-6000:]}")
    said = f"{out}\n--- progress ---\n{err[-6000:]}"
    assert report_path.exists(), said
    report = json.loads(report_path.read_text())
    cycles = report["cycles"]
    problems = []
    if [c["fault"] for c in cycles] != list(faults):
        problems.append(f"cycles ran: {[c['fault'] for c in cycles]}")
    problems += [f"not injected: {c['fault']}: {c['note']}" for c in cycles if not c["hit"]]
    problems += [
        f"no terminal state: cycle {c['index']}" for c in cycles if c["terminal"] == "none"
    ]
    for key in ("census_errors", "leaks", "residue"):
        if report[key]:
            problems.append(f"{key}: {report[key]}")
    if proc.returncode != 0 and not problems:
        problems.append(f"exit status {proc.returncode}")
    assert not problems, "\n".join(problems) + "\n\n" + said
