"""Starting a background refill: a detached, low-priority ``python -m vmctl.pool fill``.

The filler never inherits our stdio (an executor's stderr is in a guest-writable sandbox)
and logs to ``<state root>/pool/fill.log``. Its flock makes a second filler exit at once,
so asking for a refill after every claim costs one short-lived process at most.
"""

from __future__ import annotations

import os
import subprocess
import sys

from mesos_hyper import config, log
from vmctl.pool.settings import PoolSettings
from vmctl.pool.store import PoolDirs

LOG = log.get(__name__)
NICE = 19


def request_refill(paths: config.Paths) -> None:
    """Never raises: a pool that fails to refill only makes later launches boot cold."""
    try:
        if not PoolSettings.from_env().enabled:
            return
        dirs = PoolDirs(paths)
        if dirs.stopped.exists():
            return  # drained; the filler would see it too, this only saves a process
        dirs.make()
        env = {
            **os.environ,
            "MESOS_HYPER_ROOT": str(paths.root),
            "MESOS_HYPER_GUEST_DIR": str(paths.guest),
            "MESOS_HYPER_RUN_DIR": str(paths.run),
            "MESOS_HYPER_POOL_DIR": str(paths.pool),
        }
        with open(dirs.fill_log, "ab") as logf:
            subprocess.Popen(
                ["nice", "-n", str(NICE), sys.executable, "-I", "-m", "vmctl.pool", "fill"],
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=logf,
                env=env,
                cwd="/",
                start_new_session=True,
                close_fds=True,
            )
    except Exception as err:
        log.event(LOG, "pool refill not started", log.WARNING, error=err)
