"""``mesos-hyper``: the operator's command line.

Each area registers its own subcommands; this module only parses, dispatches and turns
expected failures (HyperError) into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import sys

from mesos_hyper import __version__, log
from mesos_hyper.deploy import cli as deploy_cli
from mesos_hyper.errors import HyperError
from mesos_hyper.executor import cli as exec_cli
from mesos_hyper.host import cli as host_cli
from mesos_hyper.host import pool_cli
from mesos_hyper.images import cli as images_cli
from mesos_hyper.observe import cli as observe_cli
from mesos_hyper.runtime import cli as runtime_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mesos-hyper",
        description="Run Docker images in lightweight VMs (a Mesos external containerizer).",
    )
    parser.add_argument("--version", action="version", version=f"mesos-hyper {__version__}")
    parser.add_argument(
        "--log-level",
        default=None,
        help="stderr log level (default: MESOS_HYPER_LOG_LEVEL or warning)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for area in (runtime_cli, observe_cli, exec_cli, images_cli, host_cli, pool_cli, deploy_cli):
        area.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        log.setup(args.log_level)
        return int(args.func(args) or 0)
    except HyperError as err:
        print(f"mesos-hyper: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("mesos-hyper: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
