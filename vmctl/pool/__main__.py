"""``python -m vmctl.pool fill``: the background refill that ``refill.request_refill`` starts."""

from __future__ import annotations

import sys

from mesos_hyper import config, log
from vmctl.pool.fill import fill


def main(argv: list[str]) -> int:
    if argv != ["fill"]:
        print("usage: python -m vmctl.pool fill", file=sys.stderr)
        return 2
    log.setup(None)
    result = fill(config.Paths.from_env(), only_if_present=True)
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
