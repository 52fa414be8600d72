"""``python -I -m mesos_hyper.executor``: the pod executor that ``launch`` starts, detached.

It ends with ``os._exit`` once its work is done and recorded: no stream thread blocked on
the agent's open SUBSCRIBE connection, nor any other thread, may keep it alive (the agent's
``wait`` returns only when it has gone).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mesos_hyper import config, log
from mesos_hyper.containerizer import recordio
from mesos_hyper.errors import HyperError
from mesos_hyper.executor.pod_executor import PodExecutor
from mesos_hyper.executor.settings import ExecutorSettings
from mesos_hyper.model import messages
from mesos_hyper.state import StateStore


def main() -> int:
    try:
        log.setup(os.environ.get("MESOS_HYPER_LOG_LEVEL") or "INFO")
        from mesos_hyper.proto import containerizer_pb2

        settings = ExecutorSettings.from_env(os.environ)
        container_id = os.environ["MESOS_HYPER_CONTAINER_ID"]
        store = StateStore(Path(os.environ["MESOS_HYPER_STATE_ROOT"]))
        raw = store.launch_path(container_id).read_bytes()
        launch = messages.from_launch(recordio.parse(containerizer_pb2.Launch, raw))
        default_image = os.environ.get("MESOS_DEFAULT_CONTAINER_IMAGE") or os.environ.get(
            "MESOS_HYPER_DEFAULT_IMAGE"
        )
        executor = PodExecutor(settings, launch, store, config.Paths.from_env(), default_image)
        return executor.run()
    except (HyperError, KeyError, OSError) as err:
        print(f"mesos-hyper executor: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # one line, never a traceback, in the sandbox's stderr
        print(f"mesos-hyper executor: internal error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
