"""The v1 executor API messages (include/mesos/v1/executor/executor.proto, 1.0.4).

Built at import time on top of our v0 `mesos` package: v0 and v1 messages are
wire-compatible (the 1.0.4 agent itself converts with evolve()/devolve(), i.e.
serialize + parse), so only the JSON names differ; see jsonmap.py.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from mesos_hyper.proto import mesos_pb2

_FDP = descriptor_pb2.FieldDescriptorProto
_FILE = "tests/agent_double/v1_executor.proto"
_PACKAGE = "agent_double.v1.executor"


def _field(
    message: descriptor_pb2.DescriptorProto,
    name: str,
    number: int,
    label: int,
    kind: int,
    type_name: str = "",
) -> None:
    field = message.field.add(name=name, number=number, label=label, type=kind)
    if type_name:
        field.type_name = type_name


def _enum(message: descriptor_pb2.DescriptorProto, values: list[str]) -> None:
    enum = message.enum_type.add(name="Type")
    for number, name in enumerate(values):
        enum.value.add(name=name, number=number)


_REQ, _OPT, _REP = _FDP.LABEL_REQUIRED, _FDP.LABEL_OPTIONAL, _FDP.LABEL_REPEATED
_MSG, _BYTES, _STR, _ENUM = _FDP.TYPE_MESSAGE, _FDP.TYPE_BYTES, _FDP.TYPE_STRING, _FDP.TYPE_ENUM


def _event(file: descriptor_pb2.FileDescriptorProto) -> None:
    event = file.message_type.add(name="Event")
    _enum(
        event,
        ["UNKNOWN", "SUBSCRIBED", "LAUNCH", "KILL", "ACKNOWLEDGED", "MESSAGE", "ERROR", "SHUTDOWN"],
    )
    me = f".{_PACKAGE}.Event"
    sub = event.nested_type.add(name="Subscribed")
    _field(sub, "executor_info", 1, _REQ, _MSG, ".mesos.ExecutorInfo")
    _field(sub, "framework_info", 2, _REQ, _MSG, ".mesos.FrameworkInfo")
    _field(sub, "agent_info", 3, _REQ, _MSG, ".mesos.SlaveInfo")
    launch = event.nested_type.add(name="Launch")
    _field(launch, "task", 1, _REQ, _MSG, ".mesos.TaskInfo")
    kill = event.nested_type.add(name="Kill")
    _field(kill, "task_id", 1, _REQ, _MSG, ".mesos.TaskID")
    _field(kill, "kill_policy", 2, _OPT, _MSG, ".mesos.KillPolicy")
    ack = event.nested_type.add(name="Acknowledged")
    _field(ack, "task_id", 1, _REQ, _MSG, ".mesos.TaskID")
    _field(ack, "uuid", 2, _REQ, _BYTES)
    msg = event.nested_type.add(name="Message")
    _field(msg, "data", 1, _REQ, _BYTES)
    err = event.nested_type.add(name="Error")
    _field(err, "message", 1, _REQ, _STR)
    _field(event, "type", 1, _OPT, _ENUM, f"{me}.Type")
    _field(event, "subscribed", 2, _OPT, _MSG, f"{me}.Subscribed")
    _field(event, "acknowledged", 3, _OPT, _MSG, f"{me}.Acknowledged")
    _field(event, "launch", 4, _OPT, _MSG, f"{me}.Launch")
    _field(event, "kill", 5, _OPT, _MSG, f"{me}.Kill")
    _field(event, "message", 6, _OPT, _MSG, f"{me}.Message")
    _field(event, "error", 7, _OPT, _MSG, f"{me}.Error")


def _call(file: descriptor_pb2.FileDescriptorProto) -> None:
    call = file.message_type.add(name="Call")
    _enum(call, ["UNKNOWN", "SUBSCRIBE", "UPDATE", "MESSAGE"])
    me = f".{_PACKAGE}.Call"
    sub = call.nested_type.add(name="Subscribe")
    _field(sub, "unacknowledged_tasks", 1, _REP, _MSG, ".mesos.TaskInfo")
    _field(sub, "unacknowledged_updates", 2, _REP, _MSG, f"{me}.Update")
    update = call.nested_type.add(name="Update")
    _field(update, "status", 1, _REQ, _MSG, ".mesos.TaskStatus")
    msg = call.nested_type.add(name="Message")
    _field(msg, "data", 2, _REQ, _BYTES)
    _field(call, "executor_id", 1, _REQ, _MSG, ".mesos.ExecutorID")
    _field(call, "framework_id", 2, _REQ, _MSG, ".mesos.FrameworkID")
    _field(call, "type", 3, _OPT, _ENUM, f"{me}.Type")
    _field(call, "subscribe", 4, _OPT, _MSG, f"{me}.Subscribe")
    _field(call, "update", 5, _OPT, _MSG, f"{me}.Update")
    _field(call, "message", 6, _OPT, _MSG, f"{me}.Message")


def _build() -> tuple[type, type]:
    pool = descriptor_pool.Default()
    try:
        file_desc = pool.FindFileByName(_FILE)
    except KeyError:
        file = descriptor_pb2.FileDescriptorProto(
            name=_FILE,
            package=_PACKAGE,
            syntax="proto2",
            dependency=[mesos_pb2.DESCRIPTOR.name],
        )
        _event(file)
        _call(file)
        file_desc = pool.Add(file)
        file_desc = pool.FindFileByName(_FILE)
    event = message_factory.GetMessageClass(file_desc.message_types_by_name["Event"])
    call = message_factory.GetMessageClass(file_desc.message_types_by_name["Call"])
    return event, call


Event, Call = _build()
