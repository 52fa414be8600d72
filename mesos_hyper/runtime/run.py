"""``mesos-hyper run``: one image, one VM, one process; the exit code is the container's."""

from __future__ import annotations

import dataclasses
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from mesos_hyper import config, log
from mesos_hyper.errors import HyperError, NotFoundError, UsageError, VMError
from mesos_hyper.executor import exec_socket
from mesos_hyper.executor.exec_socket import ExecRequest, ExecServer, ExecStreams
from mesos_hyper.images.progress import Progress
from mesos_hyper.images.store import Image, ImageStore
from mesos_hyper.runtime.output_log import OutputLog
from mesos_hyper.runtime.spec import RunOptions, process_spec
from vmctl.guest.protocol import ProcessSpec
from vmctl.pod import Pod, PodConfig

LOG = log.get(__name__)
STOP_GRACE_S = 10.0
# What `docker run` reports when the container had to be killed (128 + SIGKILL).
KILLED_EXIT = 137


@dataclass
class RunRequest:
    """What `mesos-hyper run` was asked to run."""

    image: str
    options: RunOptions = field(default_factory=RunOptions)
    cpus: int = 1
    memory_mib: int = 256
    name: str | None = None
    pull: str = "missing"  # missing | always | never


@dataclass
class RunResult:
    """How a `run` ended, with its timings."""

    exit_code: int
    timings: dict[str, float]
    error: str | None = None


def new_name() -> str:
    return secrets.token_hex(6)


def resolve_image(store: ImageStore, ref: str, pull: str, progress: Progress | None) -> Image:
    if pull == "always":
        return store.pull(ref, force=True, progress=progress)
    try:
        return store.get(ref)
    except NotFoundError:
        if pull == "never":
            raise
    return store.pull(ref, progress=progress)


class Runner:
    """Runs one request; ``stop()`` may be called from a signal handler's thread."""

    def __init__(self, request: RunRequest, paths: config.Paths | None = None) -> None:
        self.request = request
        self.paths = paths or config.Paths.from_env()
        self.name = request.name or new_name()
        self.timings: dict[str, float] = {}
        self._pod: Pod | None = None
        self._stopping = threading.Event()

    def run(
        self,
        stdout: Callable[[bytes], None],
        stderr: Callable[[bytes], None],
        progress: Progress | None = None,
    ) -> RunResult:
        store = ImageStore(self.paths.images)
        t0 = time.monotonic()
        image = resolve_image(store, self.request.image, self.request.pull, progress)
        t1 = time.monotonic()
        base_disk = store.base_disk(image)
        t2 = time.monotonic()
        passwd, group = store.user_db(image)
        opts = self.request.options
        if opts.hostname == RunOptions.hostname:
            opts = RunOptions(**{**opts.__dict__, "hostname": self.name})
        spec = process_spec(image.config, passwd, group, opts)

        def exec_spec(argv: tuple[str, ...]) -> ProcessSpec:
            """As ``docker exec``: argv as it is, in the container's env, user and workdir."""
            as_exec = dataclasses.replace(opts, entrypoint=list(argv[:1]), args=list(argv[1:]))
            return process_spec(image.config, passwd, group, as_exec)

        self.timings.update(image=t1 - t0, rootfs=t2 - t1)
        pod_config = PodConfig(
            name=self.name,
            kernel=self.paths.boot_kernel,
            initramfs=self.paths.initramfs,
            base_disk=base_disk,
            workdir=self.paths.containers / self.name,
            vcpus=self.request.cpus,
            memory_mib=self.request.memory_mib,
            metadata={
                "image": image.id,
                "reference": self.request.image,
                "output": str(self.paths.run_logs / self.name),  # for `mesos-hyper logs`
            },
            pool=self.paths,
        )
        log.event(LOG, "starting container", name=self.name, image=image.id)
        output = OutputLog(self.paths.run_logs / self.name)
        stdout, stderr = output.tee("stdout", stdout), output.tee("stderr", stderr)
        try:
            return self._run_pod(pod_config, spec, exec_spec, stdout, stderr)
        finally:
            output.close()

    def _run_pod(
        self,
        pod_config: PodConfig,
        spec: ProcessSpec,
        exec_spec: Callable[[tuple[str, ...]], ProcessSpec],
        stdout: Callable[[bytes], None],
        stderr: Callable[[bytes], None],
    ) -> RunResult:
        with Pod(pod_config) as pod:
            self._pod = pod
            if self._stopping.is_set():
                return RunResult(KILLED_EXIT, self.timings)
            pod.start(spec, on_stdout=stdout, on_stderr=stderr)
            self.timings.update({f"pod_{k}": v for k, v in pod.timings.items()})
            server = self._serve_exec(pod, exec_spec)
            try:
                code = pod.wait()
            except VMError:
                if not self._stopping.is_set():
                    raise
                code = KILLED_EXIT
            finally:
                if server is not None:
                    server.close()
            error = pod.error
        log.event(LOG, "container ended", name=self.name, exit_code=code)
        return RunResult(code, self.timings, error)

    def _serve_exec(
        self, pod: Pod, exec_spec: Callable[[tuple[str, ...]], ProcessSpec]
    ) -> ExecServer | None:
        """``mesos-hyper exec NAME``, for as long as the container runs."""

        def run(request: ExecRequest, streams: ExecStreams) -> int:
            if request.task_id is not None:
                raise UsageError("a `mesos-hyper run` pod has no tasks: leave --task out")
            spec = exec_spec(request.argv)
            return pod.exec(0, spec, request.timeout, streams.on_output, streams.stdin)

        try:
            return ExecServer(exec_socket.socket_path(self.name, self.paths), run)
        except (OSError, HyperError) as err:  # the container runs; only exec is missing
            log.event(LOG, "no exec socket", log.WARNING, name=self.name, error=err)
            return None

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Graceful stop (SIGTERM in the guest), then destroy after ``grace_s``."""
        first = not self._stopping.is_set()
        self._stopping.set()
        pod = self._pod
        if pod is None:
            return
        if first:
            threading.Thread(target=pod.stop, args=(grace_s,), daemon=True).start()
        else:
            threading.Thread(target=pod.destroy, daemon=True).start()


def _writer(stream: BinaryIO) -> Callable[[bytes], None]:
    def write(data: bytes) -> None:
        stream.write(data)
        stream.flush()

    return write


def run_cli(request: RunRequest) -> int:
    """Run with the terminal attached: live output, Ctrl-C/SIGTERM stop the guest gracefully."""
    runner = Runner(request)
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous[signum] = signal.signal(signum, lambda _s, _f: runner.stop())
    try:
        progress = Progress() if sys.stderr.isatty() else None
        result = runner.run(_writer(sys.stdout.buffer), _writer(sys.stderr.buffer), progress)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if result.error:
        print(f"mesos-hyper: {result.error}", file=sys.stderr)
    return result.exit_code
