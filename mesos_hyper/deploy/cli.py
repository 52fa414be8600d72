"""``mesos-hyper deploy``: a Marathon app definition on a Mesos cluster, watched, then killed.

A deploy-and-watch tool for trying apps and for smoke tests, not a scheduler: it launches
the instances once, with no restarts and no scaling. Long-running apps belong in Marathon.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import time
from typing import Any

from mesos_hyper.errors import HyperError

REGISTER_TIMEOUT_S = 60.0
OFFER_TIMEOUT_S = 120.0
KILL_TIMEOUT_S = 90.0

DESCRIPTION = """\
Registers a framework with the master (pymesos), turns APP.json (a Marathon 1.3 app
definition) into the TaskInfos Marathon builds, launches --instances of it on offers that
fit (cpus, mem, disk, ports), prints each instance's states, agent host and host ports,
runs the app's health checks as Marathon would (COMMAND checks by Mesos, HTTP and TCP ones
from here), and kills the instances after --for seconds or on Ctrl-C.

Exit status 0 when every instance reached TASK_RUNNING (and passed its health checks,
where the app has some); 1 otherwise. This is not a scheduler: nothing is restarted or
scaled. Use Marathon for long-running apps."""


def register(sub: argparse._SubParsersAction) -> None:
    deploy = sub.add_parser(
        "deploy",
        help="launch a Marathon app definition on a Mesos cluster and watch it (not a scheduler)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    deploy.add_argument("app", metavar="APP.json", help="a Marathon app definition")
    deploy.add_argument(
        "--master", required=True, help="HOST:PORT of the master, or zk://HOST:PORT/mesos"
    )
    deploy.add_argument("--instances", type=int, default=None, help="default: the app's")
    deploy.add_argument(
        "--for",
        dest="for_seconds",
        type=float,
        default=None,
        metavar="SECONDS",
        help="kill the instances this long after the start (default: on Ctrl-C)",
    )
    deploy.add_argument(
        "--offer-timeout",
        type=float,
        default=OFFER_TIMEOUT_S,
        metavar="SECONDS",
        help="give up when offers that fit have not taken every instance by then, and say "
        f"what the offers lacked (default {OFFER_TIMEOUT_S:g})",
    )
    deploy.add_argument(
        "--register-timeout",
        type=float,
        default=REGISTER_TIMEOUT_S,
        metavar="SECONDS",
        help=f"give up when no master registers us by then (default {REGISTER_TIMEOUT_S:g})",
    )
    deploy.add_argument("--user", default="root", help="the framework's user (default root)")
    deploy.set_defaults(func=_deploy)


def _deploy(args: argparse.Namespace) -> int:
    from mesos_hyper.deploy.marathon_app import UnsupportedAppError, load_app

    try:
        app = load_app(args.app)
        _check_convertible(app)
    except UnsupportedAppError as err:
        raise HyperError(f"{args.app}: {err}") from err
    instances = args.instances if args.instances is not None else int(app.get("instances", 1))
    if instances < 1:
        raise HyperError("--instances must be at least 1")
    for flag, value in (
        ("--for", args.for_seconds),
        ("--offer-timeout", args.offer_timeout),
        ("--register-timeout", args.register_timeout),
    ):
        if value is not None and value <= 0:
            raise HyperError(f"{flag} must be a positive number of seconds")
    # Ctrl-C or SIGINT ends the instances (see _end) even where SIGINT came in ignored, as
    # it does for a script's background job: pymesos chains to the handler it finds at
    # import, and an ignored one made it fail with a TypeError
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        from pymesos import MesosSchedulerDriver
    except ImportError as err:
        raise HyperError(f"pymesos is missing ({err}): run scripts/install-pymesos.sh") from err
    from mesos_hyper.deploy.deployment import Deployment

    deployment = Deployment(app, instances, say=_say)
    framework = {
        "user": args.user,
        "name": f"mesos-hyper deploy {app.get('id', '')}",
        "hostname": socket.gethostname(),
        "failover_timeout": 0.0,
        "checkpoint": True,
    }
    driver = MesosSchedulerDriver(deployment, framework, args.master, use_addict=False)
    driver.start()
    try:
        _watch(deployment, args)
    except KeyboardInterrupt:
        _say("interrupted")
    finally:
        _end(driver, deployment)
    ok, problems = deployment.summary()
    for line in problems:
        _say(line)
    _say(f"{ok} of {instances} instance(s) ran{' and were healthy' if _checked(app) else ''}")
    return 0 if ok == instances and not problems else 1


def _check_convertible(app: dict[str, Any]) -> None:
    """An app the converter refuses fails here, before any framework registers."""
    from mesos_hyper.deploy.marathon_app import InsufficientPortsError, task_info

    with contextlib.suppress(InsufficientPortsError):  # offers decide that
        task_info(app, task_id="check.0", agent_host="check", offered_ports=range(1, 65536))


def _checked(app: dict[str, Any]) -> bool:
    return bool(app.get("healthChecks"))


def _watch(deployment: Any, args: argparse.Namespace) -> None:
    start = time.monotonic()
    if not deployment.wait(
        lambda: deployment.framework_id is not None or deployment.master_error is not None,
        args.register_timeout,
    ):
        raise HyperError(f"no master at {args.master} registered us in {args.register_timeout:g}s")
    if deployment.master_error is not None:
        raise HyperError(f"the master refused us: {deployment.master_error}")

    def left(limit: float | None) -> float | None:
        return None if limit is None else max(limit - (time.monotonic() - start), 0.0)

    # the offer timeout counts only while --for has not ended the deploy anyway
    offer_limit = min(args.offer_timeout, args.for_seconds or args.offer_timeout)
    launched = deployment.wait(
        lambda: deployment.all_launched() or deployment.master_error is not None,
        left(offer_limit),
    )
    if not launched and offer_limit == args.offer_timeout:
        _say(f"offers that fit did not take every instance in {args.offer_timeout:g}s")
        return
    deployment.wait(
        lambda: deployment.all_ended() or deployment.master_error is not None,
        left(args.for_seconds),
    )


def _end(driver: Any, deployment: Any) -> None:
    """Kill what still runs, wait for the kills to be confirmed, then tear down."""
    deployment.stop()
    live = deployment.live()
    if live:
        _say(f"killing {len(live)} instance(s)")
    for instance in live:
        driver.killTask({"value": instance.task_id})
    if live and not deployment.wait(lambda: not deployment.live(), KILL_TIMEOUT_S):
        _say("some instances did not confirm their kill; the framework's teardown ends them")
    driver.stop()
    driver.join()


def _say(line: str) -> None:
    print(line, flush=True)
