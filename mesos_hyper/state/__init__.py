"""Container records on disk, shared by the separate ECP invocations of one agent."""

from mesos_hyper.state.record import (
    SCHEMA_VERSION,
    AlreadyExistsError,
    ContainerRecord,
    StateError,
    Status,
    Termination,
)
from mesos_hyper.state.store import StateStore, WaitTimeoutError, default_root

__all__ = [
    "SCHEMA_VERSION",
    "AlreadyExistsError",
    "ContainerRecord",
    "StateError",
    "StateStore",
    "Status",
    "Termination",
    "WaitTimeoutError",
    "default_root",
]
