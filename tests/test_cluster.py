"""The Vagrant test cluster's static checks: the Vagrantfile validates, the node settings'
logic passes its Ruby unit test, the provisioning scripts parse, and a host that cannot
bring the cluster up is told why before any node is made. The cluster itself comes up in
scripts/cluster-smoke.sh (docs/cluster.md), which takes longer than the suite may."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = [
    REPO / "scripts" / "build-box.sh",
    REPO / "scripts" / "cluster-smoke.sh",
    REPO / "scripts" / "install.sh",
    *sorted((REPO / "scripts" / "cluster").glob("*.sh")),
]

pytestmark = pytest.mark.skipif(
    shutil.which("vagrant") is None or shutil.which("ruby") is None,
    reason="vagrant and ruby are installed by scripts/test.sh",
)


def _vagrant(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["vagrant", *args],
        cwd=cwd,
        env={**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_node_settings_pass_their_ruby_unit_test():
    result = subprocess.run(
        ["ruby", "tests/cluster/test_settings.rb"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 failures, 0 errors" in result.stdout


def test_the_vagrantfile_validates():
    result = _vagrant(["validate"], REPO, MESOS_HYPER_CLUSTER_ACCEL="tcg")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout


def test_a_bad_agent_count_is_refused_with_its_fix():
    result = _vagrant(["validate"], REPO, MESOS_HYPER_AGENTS="many")
    assert result.returncode != 0
    assert 'MESOS_HYPER_AGENTS="many": expected a whole number from 1 to 8' in result.stderr


def test_up_without_the_hosts_artifacts_says_what_to_run_and_makes_nothing(tmp_path):
    (tmp_path / "scripts" / "cluster").mkdir(parents=True)
    shutil.copy(REPO / "Vagrantfile", tmp_path)
    shutil.copy(REPO / "scripts" / "cluster" / "settings.rb", tmp_path / "scripts" / "cluster")
    result = _vagrant(["up"], tmp_path, MESOS_HYPER_CLUSTER_ACCEL="tcg")
    assert result.returncode != 0
    assert "mesos-hyper cluster cannot start" in result.stderr
    assert "run scripts/cluster/prepare.sh first" in result.stderr
    assert not (tmp_path / ".vagrant" / "machines").exists()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_provisioning_scripts_parse(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
