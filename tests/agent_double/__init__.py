"""A Mesos 1.0.4 agent test double for end-to-end tests of the ECP.

Built from the Mesos 1.0.4 sources (external_containerizer.cpp, slave.cpp,
http.cpp, containerizer.cpp), not from mesos_hyper, so that it can catch our
own misreadings of the protocol.
"""

from .agent import Agent, ExpectedFailure, LeakError, UnexpectedECPFailures
from .ecp import (
    ContainerNotRunning,
    ECPError,
    ECPFailure,
    ECPInvoker,
    ECPTimeout,
    Invocation,
    RecoverResult,
)
from .executor_api import AgentHTTP, EventStream
from .executor_info import AgentFlags, command_executor_info, executor_environment
from .jsonmap import from_json, to_json
from .records import ExecutorRecord, ExecutorState, ReceivedUpdate
from .v1_executor import Call, Event

__all__ = [
    "Agent",
    "AgentFlags",
    "AgentHTTP",
    "Call",
    "ContainerNotRunning",
    "ECPError",
    "ECPFailure",
    "ECPInvoker",
    "ECPTimeout",
    "Event",
    "EventStream",
    "ExecutorRecord",
    "ExecutorState",
    "ExpectedFailure",
    "Invocation",
    "LeakError",
    "ReceivedUpdate",
    "RecoverResult",
    "UnexpectedECPFailures",
    "command_executor_info",
    "executor_environment",
    "from_json",
    "to_json",
]
