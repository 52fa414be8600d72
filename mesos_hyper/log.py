"""Structured logs on stderr: one ``key=value`` line per event.

The Mesos agent appends an external containerizer's stderr to the sandbox, so stderr
is where operators look; stdout is reserved for record-io answers and task output.

The standard ``logging`` package is imported only when a record is emitted: an ECP call
the agent polls (``containers``, ``usage``) logs nothing, and importing logging is about a
fifth of its start-up. Events below the level are dropped before that.
"""

from __future__ import annotations

import os
import sys

from mesos_hyper.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging

DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40  # logging's own numbers
_NAMES = {"DEBUG": DEBUG, "INFO": INFO, "WARNING": WARNING, "WARN": WARNING, "ERROR": ERROR}


class _Settings:
    level = WARNING
    installed = False


def setup(level: str | None = None) -> None:
    """Send every mesos-hyper log to stderr; level from ``MESOS_HYPER_LOG_LEVEL``."""
    name = (level or os.environ.get("MESOS_HYPER_LOG_LEVEL") or "WARNING").upper()
    if name not in _NAMES:
        raise UsageError(f"unknown log level {name!r}; expected one of {', '.join(_NAMES)}")
    _Settings.level = _NAMES[name]
    _Settings.installed = False
    if "logging" in sys.modules:  # a library may log through it: format its records too
        _install()


def _install() -> None:
    from mesos_hyper import log_format

    log_format.install(_Settings.level)
    _Settings.installed = True


class Logger:
    """A named logger whose ``logging.Logger`` is made when it first emits."""

    __slots__ = ("_logger", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._logger: logging.Logger | None = None

    def _real(self) -> logging.Logger:
        if not _Settings.installed:
            _install()
        if self._logger is None:
            import logging

            self._logger = logging.getLogger(self.name)
        return self._logger

    def log(self, level: int, msg: str, **fields: object) -> None:
        if level >= _Settings.level:
            self._real().log(level, msg, extra={"fields": fields})

    def exception(self, msg: str, *args: object) -> None:
        """At ERROR, with the traceback of the exception being handled."""
        self._real().exception(msg, *args)


def get(name: str) -> Logger:
    return Logger(name)


def event(logger: Logger, msg: str, level: int = INFO, **fields: object) -> None:
    """Log ``msg`` with structured fields."""
    logger.log(level, msg, **fields)
