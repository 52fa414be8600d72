"""What the 1.0.4 agent derives from a task before calling the containerizer.

Slave::getExecutorInfo (command-task executor), the launch-time resources
(Framework::launchExecutor), executorEnvironment (containerizer.cpp) and the
sandbox layout (slave/paths.cpp), so the ECP sees what a real agent hands it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mesos_hyper.proto import mesos_pb2

from .durations import MINS, SECS, format_duration

DEFAULT_EXECUTOR_CPUS = 0.1
DEFAULT_EXECUTOR_MEM_MB = 32.0
DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD_NS = 5 * SECS
RECOVERY_TIMEOUT_NS = 15 * MINS
EXECUTOR_REREGISTER_TIMEOUT_NS = 2 * SECS
MAX_REAP_INTERVAL_NS = 1 * SECS
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MESOS_VERSION = "1.0.4"


@dataclass
class AgentFlags:
    """The agent flags that shape what the ECP sees (1.0.4 defaults)."""

    work_dir: Path
    containerizer_path: str
    launcher_dir: str = "/usr/libexec/mesos"
    default_container_image: str | None = None
    http_command_executor: bool = False
    executor_shutdown_grace_period_ns: int = DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD_NS
    recovery_timeout_ns: int = RECOVERY_TIMEOUT_NS
    executor_environment_variables: Mapping[str, str] | None = None
    hadoop_home: str = ""
    sandbox_directory: str = "/mnt/mesos/sandbox"
    switch_user: bool = True
    # the LIBDIR built into the agent: where it looks for libmesos-<version>.so
    libdir: str = "/usr/local/lib"


def _shorten(text: str) -> str:
    return text[:12] + "..." if len(text) > 15 else text


def _executor_name(task: mesos_pb2.TaskInfo) -> str:
    name = f"(Task: {task.task_id.value}) "
    command = task.command
    if command.shell:
        if not command.HasField("value"):
            return name + "(Command: NO COMMAND)"
        value = command.value
        if len(value) > 15:
            return name + f"(Command: sh -c '{value[:12]}...')"
        return name + f"(Command: sh -c '{value}')"
    if not command.HasField("value"):
        return name + "(Command: NO EXECUTABLE)"
    args = command.value + ", " + ", ".join(command.arguments)
    if len(args) > 15:
        return name + f"(Command: [{args[:12]}...])"
    return name + f"(Command: [{args}])"


def command_executor_info(
    framework: mesos_pb2.FrameworkInfo, task: mesos_pb2.TaskInfo, flags: AgentFlags
) -> mesos_pb2.ExecutorInfo:
    """Slave::getExecutorInfo for a task that carries a CommandInfo."""
    if task.HasField("executor") == task.HasField("command"):
        raise ValueError("a task needs exactly one of CommandInfo and ExecutorInfo")
    if task.HasField("executor"):
        return task.executor
    executor = mesos_pb2.ExecutorInfo()
    executor.executor_id.value = task.task_id.value
    executor.framework_id.CopyFrom(framework.id)
    if task.HasField("container"):
        executor.container.CopyFrom(task.container)
    has_rootfs = (
        task.HasField("container")
        and task.container.type == mesos_pb2.ContainerInfo.MESOS
        and task.container.mesos.HasField("image")
    )
    if has_rootfs:
        executor.container.mesos.ClearField("image")
        executor.command.user = "root"
    executor.name = "Command Executor " + _executor_name(task)
    executor.source = task.task_id.value
    executor.command.uris.MergeFrom(task.command.uris)
    if task.command.HasField("environment"):
        executor.command.environment.MergeFrom(task.command.environment)
    if task.HasField("labels"):
        executor.labels.MergeFrom(task.labels)
    if task.HasField("discovery"):
        executor.discovery.MergeFrom(task.discovery)
    if task.HasField("kill_policy") and task.kill_policy.HasField("grace_period"):
        executor.shutdown_grace_period.nanoseconds = (
            task.kill_policy.grace_period.nanoseconds + MAX_REAP_INTERVAL_NS + SECS
        )
    if not has_rootfs and task.command.HasField("user"):
        executor.command.user = task.command.user
    path = Path(flags.launcher_dir, "mesos-executor")
    if path.exists():
        executor.command.shell = False
        executor.command.value = os.path.realpath(path)
        executor.command.arguments.extend(
            ["mesos-executor", f"--launcher_dir={flags.launcher_dir}"]
        )
        if has_rootfs:
            executor.command.arguments.append(f"--sandbox_directory={flags.sandbox_directory}")
            if flags.switch_user:
                user = task.command.user if task.command.HasField("user") else framework.user
                executor.command.arguments.append(f"--user={user}")
    else:
        executor.command.shell = True
        executor.command.value = "echo 'No such file or directory'; exit 1"
    executor.resources.extend(
        scalar_resources({"cpus": DEFAULT_EXECUTOR_CPUS, "mem": DEFAULT_EXECUTOR_MEM_MB})
    )
    return executor


def scalar_resources(values: Mapping[str, float]) -> list[mesos_pb2.Resource]:
    """Resources::parse("cpus:..;mem:..") with the default role '*'."""
    out = []
    for name, value in values.items():
        resource = mesos_pb2.Resource(name=name, type=mesos_pb2.Value.SCALAR, role="*")
        resource.scalar.value = value
        out.append(resource)
    return out


def _addable(a: mesos_pb2.Resource, b: mesos_pb2.Resource) -> bool:
    if a.type != mesos_pb2.Value.SCALAR or b.type != mesos_pb2.Value.SCALAR:
        return False
    left, right = mesos_pb2.Resource(), mesos_pb2.Resource()
    left.CopyFrom(a)
    right.CopyFrom(b)
    for copy in (left, right):
        copy.ClearField("scalar")
        copy.role = copy.role  # "*" by default or explicitly: the same role

    return left.SerializeToString(deterministic=True) == right.SerializeToString(deterministic=True)


def _fixed(value: float) -> int:
    """Mesos 1.0 adds scalars in fixed point, three decimals (values.cpp convertToFixed)."""
    return round(value * 1000)


def add_resources(
    base: Iterable[mesos_pb2.Resource], extra: Iterable[mesos_pb2.Resource]
) -> list[mesos_pb2.Resource]:
    """`Resources +=` for scalars: same name/role/etc. sum, others append."""
    out: list[mesos_pb2.Resource] = []
    for resource in [*base, *extra]:
        for existing in out:
            if _addable(existing, resource):
                existing.scalar.value = (
                    _fixed(existing.scalar.value) + _fixed(resource.scalar.value)
                ) / 1000
                break
        else:
            copy = mesos_pb2.Resource()
            copy.CopyFrom(resource)
            out.append(copy)
    return out


def executor_environment(
    executor: mesos_pb2.ExecutorInfo,
    directory: str,
    agent_id: str,
    agent_pid: str,
    checkpoint: bool,
    flags: AgentFlags,
    agent_env: Mapping[str, str],
) -> dict[str, str]:
    """containerizer.cpp executorEnvironment (no hooks)."""
    env: dict[str, str] = {}
    if "LIBPROCESS_IP" in agent_env:
        env["LIBPROCESS_IP"] = agent_env["LIBPROCESS_IP"]
    env.update(flags.executor_environment_variables or {})
    env.setdefault("PATH", DEFAULT_PATH)
    env["LIBPROCESS_PORT"] = "0"
    libmesos = Path(flags.libdir, f"libmesos-{MESOS_VERSION}.so")
    if libmesos.exists():  # the agent names its own library, where it is installed
        env.setdefault("MESOS_NATIVE_JAVA_LIBRARY", str(libmesos))
        env.setdefault("MESOS_NATIVE_LIBRARY", str(libmesos))
    env["MESOS_FRAMEWORK_ID"] = executor.framework_id.value
    env["MESOS_EXECUTOR_ID"] = executor.executor_id.value
    env["MESOS_DIRECTORY"] = directory
    env["MESOS_SLAVE_ID"] = agent_id
    env["MESOS_SLAVE_PID"] = agent_pid
    env["MESOS_AGENT_ENDPOINT"] = agent_pid.split("@", 1)[1]
    env["MESOS_CHECKPOINT"] = "1" if checkpoint else "0"
    env["MESOS_HTTP_COMMAND_EXECUTOR"] = "1" if flags.http_command_executor else "0"
    grace = flags.executor_shutdown_grace_period_ns
    if executor.HasField("shutdown_grace_period"):
        grace = executor.shutdown_grace_period.nanoseconds
    env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] = format_duration(grace)
    if checkpoint:
        env["MESOS_RECOVERY_TIMEOUT"] = format_duration(flags.recovery_timeout_ns)
        env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = format_duration(EXECUTOR_REREGISTER_TIMEOUT_NS)
    return env


def launch_executor_info(
    executor: mesos_pb2.ExecutorInfo, task: mesos_pb2.TaskInfo
) -> mesos_pb2.ExecutorInfo:
    """Slave::launchExecutor's copy for the containerizer: the executor's resources plus
    the first task's, "so that the containerizer has non-zero resources to work with"."""
    launch = mesos_pb2.ExecutorInfo()
    launch.CopyFrom(executor)
    del launch.resources[:]
    launch.resources.extend(add_resources(executor.resources, task.resources))
    return launch


def launch_environment(
    executor: mesos_pb2.ExecutorInfo,
    directory: str,
    agent_id: str,
    agent_pid: str,
    checkpoint: bool,
    flags: AgentFlags,
    agent_env: Mapping[str, str],
) -> dict[str, str]:
    """ExternalContainerizerProcess::launch's extra env for `launch`."""
    env = executor_environment(
        executor, directory, agent_id, agent_pid, checkpoint, flags, agent_env
    )
    if flags.hadoop_home:
        env["HADOOP_HOME"] = flags.hadoop_home
    if flags.default_container_image is not None:
        env["MESOS_DEFAULT_CONTAINER_IMAGE"] = flags.default_container_image
    return env


def executor_directory(
    work_dir: Path, agent_id: str, framework_id: str, executor_id: str, container_id: str
) -> Path:
    """paths::createExecutorDirectory: the run dir plus the `latest` link."""
    executor_dir = (
        work_dir / "slaves" / agent_id / "frameworks" / framework_id / "executors" / executor_id
    )
    run = executor_dir / "runs" / container_id
    run.mkdir(parents=True, exist_ok=True)
    latest = executor_dir / "runs" / "latest"
    if latest.is_symlink():
        latest.unlink()
    latest.symlink_to(run)
    return run


def forked_pid_path(
    work_dir: Path, agent_id: str, framework_id: str, executor_id: str, container_id: str
) -> Path:
    """paths::getForkedPidPath under the meta dir."""
    return (
        work_dir
        / "meta"
        / "slaves"
        / agent_id
        / "frameworks"
        / framework_id
        / "executors"
        / executor_id
        / "runs"
        / container_id
        / "pids"
        / "forked.pid"
    )
