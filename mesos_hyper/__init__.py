"""mesos-hyper: a Mesos external containerizer that runs each task's image in its own VM."""

import sys
import types

__version__ = "0.1.0"


def _defer_inspect() -> None:
    """``dataclasses`` imports ``inspect`` (and with it ``ast``, ``dis`` and ``tokenize``),
    about 17 ms of the 55 ms an interpreter takes to start here, and uses it only to write
    a docstring for a dataclass without one. Every polled ECP call defines a few
    dataclasses, so until something uses ``inspect``, ``sys.modules`` holds a stand-in whose
    first attribute lookup imports the real module, puts it in its place and answers from
    it. (``importlib.util.LazyLoader`` does not help: on Python 3.11 the ``import`` statement
    itself loads a lazy module, through its ``__spec__``.)"""
    if "inspect" in sys.modules:
        return
    stand_in = types.ModuleType("inspect", "stands in for inspect until it is used")

    def load(name: str) -> object:
        if sys.modules.get("inspect") is stand_in:
            del sys.modules["inspect"]
        import inspect

        return getattr(inspect, name)

    stand_in.__getattr__ = load  # type: ignore[method-assign]
    sys.modules["inspect"] = stand_in


_defer_inspect()
