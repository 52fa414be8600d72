"""``mesos-hyper-containerizer <command>``: the program a Mesos 1.0 agent is pointed at with
``--containerizers=external --containerizer_path=...``.

Exit 0 on success; otherwise one line on stderr (the agent appends it to the sandbox) and
a non-zero exit, which the agent treats as the failure of that operation.
"""

from __future__ import annotations

import os
import sys

from mesos_hyper import log
from mesos_hyper.errors import HyperError

COMMANDS = ("launch", "update", "usage", "wait", "destroy", "containers", "recover")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    log.setup()
    if len(args) != 1 or args[0] not in COMMANDS:
        print(
            f"mesos-hyper-containerizer: unknown command {' '.join(args)!r}; "
            f"expected one of: {', '.join(COMMANDS)}",
            file=sys.stderr,
        )
        return 2
    from mesos_hyper.containerizer import ecp

    command = args[0]
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        if command == "launch":
            ecp.launch(stdin)
        elif command == "update":
            ecp.update(stdin)
        elif command == "usage":
            ecp.usage(stdin, stdout)
        elif command == "wait":
            ecp.wait(stdin, stdout)
        elif command == "destroy":
            ecp.destroy(stdin)
        elif command == "containers":
            ecp.containers(stdout)
        else:
            ecp.recover()
    except HyperError as err:
        print(f"mesos-hyper-containerizer {command}: {err}", file=sys.stderr)
        return err.exit_code
    except Exception as err:  # never a traceback: the agent shows stderr to the operator
        print(
            f"mesos-hyper-containerizer {command}: internal error: {type(err).__name__}: {err}",
            file=sys.stderr,
        )
        return 1
    return 0


def run() -> None:
    """The program: ``main``'s exit status without the interpreter's teardown (its modules,
    the protobuf runtime's), 5-10 ms of every call the agent makes. Nothing of ours waits
    for the exit: our output is flushed here, and logs are written as they are made."""
    code = main()
    try:
        sys.stdout.flush()
    except OSError as err:  # the agent stopped reading: the call failed all the same
        print(f"mesos-hyper-containerizer: cannot write the answer: {err}", file=sys.stderr)
        code = code or 1
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
