"""``python -I -m mesos_hyper.executor``: the pod executor that ``launch`` starts, detached.

``launch`` starts it before it has parsed the launch, so its imports here run beside that
parse; it waits on its stdin for the word to go (executor_process.Starting).

It ends with ``os._exit`` once its work is done and recorded: no stream thread blocked on
the agent's open SUBSCRIBE connection, nor any other thread, may keep it alive (the agent's
``wait`` returns only when it has gone).
"""

from __future__ import annotations

import os
import sys

from mesos_hyper import log
from mesos_hyper.containerizer import executor_process
from mesos_hyper.errors import HyperError
from mesos_hyper.executor.agent_api import AgentConnection, Handoff
from mesos_hyper.executor.settings import ExecutorSettings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from mesos_hyper.executor.pod_executor import PodExecutor


def main() -> int:
    try:
        log.setup(os.environ.get("MESOS_HYPER_LOG_LEVEL") or "INFO")
        if not executor_process.wait_for_go():
            return 0  # the launch gave up on us before it recorded anything for us
        settings = ExecutorSettings.from_env(os.environ)
        handoff = Handoff()
        connection = AgentConnection(settings, handoff.handle)
        # SUBSCRIBE first: the agent's `update` call, which it makes before it sends the
        # task, runs while we read the launch (protobuf) and import the executor
        connection.start()
        executor = _executor(settings, connection)
        handoff.to(executor.handle)
        return executor.run()
    except (HyperError, KeyError, OSError) as err:
        print(f"mesos-hyper executor: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # one line, never a traceback, in the sandbox's stderr
        print(f"mesos-hyper executor: internal error: {type(err).__name__}: {err}", file=sys.stderr)
        return 1


def _executor(settings: ExecutorSettings, connection: AgentConnection) -> PodExecutor:
    """The executor of our launch, whose record ``launch`` wrote before it said go."""
    from pathlib import Path

    from mesos_hyper import config
    from mesos_hyper.containerizer import recordio
    from mesos_hyper.executor.pod_executor import PodExecutor
    from mesos_hyper.model import messages
    from mesos_hyper.proto import containerizer_pb2
    from mesos_hyper.state import StateStore

    container_id = os.environ["MESOS_HYPER_CONTAINER_ID"]
    store = StateStore(Path(os.environ["MESOS_HYPER_STATE_ROOT"]))
    raw = store.launch_path(container_id).read_bytes()
    launch = messages.from_launch(recordio.parse(containerizer_pb2.Launch, raw))
    default_image = os.environ.get("MESOS_DEFAULT_CONTAINER_IMAGE") or os.environ.get(
        "MESOS_HYPER_DEFAULT_IMAGE"
    )
    paths = config.Paths.from_env()
    return PodExecutor(settings, launch, store, paths, default_image, connection)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
