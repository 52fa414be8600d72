"""What the polled ECP calls import: they run every few seconds per container, and each
starts an interpreter (issue 13: at most twice `python -c pass`)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
POLLED = "import mesos_hyper.containerizer.ecp, mesos_hyper.executor.exec_socket"


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    return set(out.split())


def test_the_polled_path_imports_none_of_the_heavy_modules() -> None:
    loaded = _modules_after(POLLED)
    # the stand-in for inspect is in sys.modules; the real one would bring these
    assert not loaded & {"ast", "dis", "tokenize"}, loaded & {"ast", "dis", "tokenize"}
    heavy = {"logging", "typing", "socket", "threading", "libvirt", "pyroute2", "google"}
    assert not loaded & heavy, loaded & heavy


def test_inspect_works_as_ever_once_used() -> None:
    code = (
        f"{POLLED}\nimport inspect, dataclasses\n"
        "from inspect import getsource\n"
        "assert inspect.signature(len) is not None and callable(getsource)\n"
        "assert dataclasses.inspect.isclass(int)\n"
        "import sys; assert sys.modules['inspect'].__file__.endswith('inspect.py')\n"
        "@dataclasses.dataclass\nclass Undocumented:\n    a: int\n"
        "assert Undocumented.__doc__ == 'Undocumented(a: int)'\n"
    )
    assert "ast" in _modules_after(code)
    # imported before us, inspect is left alone
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import inspect, mesos_hyper, sys; assert sys.modules['inspect'] is inspect",
        ],
        check=True,
        cwd=REPO,
    )


def test_every_dataclass_of_ours_has_a_docstring() -> None:
    """Else ``dataclasses`` writes one with ``inspect.signature``, loading inspect after all."""
    missing = []
    for package in ("mesos_hyper", "vmctl", "isolators"):
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.ClassDef)
                    and any("dataclass" in ast.unparse(d) for d in node.decorator_list)
                    and ast.get_docstring(node) is None
                ):
                    missing.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}")
    assert not missing, missing
