from mesos_hyper.proto import mesos_pb2 as _mesos_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Launch(_message.Message):
    __slots__ = ("container_id", "task_info", "executor_info", "directory", "user", "slave_id", "slave_pid", "checkpoint")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_INFO_FIELD_NUMBER: _ClassVar[int]
    EXECUTOR_INFO_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    SLAVE_ID_FIELD_NUMBER: _ClassVar[int]
    SLAVE_PID_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    container_id: _mesos_pb2.ContainerID
    task_info: _mesos_pb2.TaskInfo
    executor_info: _mesos_pb2.ExecutorInfo
    directory: str
    user: str
    slave_id: _mesos_pb2.SlaveID
    slave_pid: str
    checkpoint: bool
    def __init__(self, container_id: _Optional[_Union[_mesos_pb2.ContainerID, _Mapping]] = ..., task_info: _Optional[_Union[_mesos_pb2.TaskInfo, _Mapping]] = ..., executor_info: _Optional[_Union[_mesos_pb2.ExecutorInfo, _Mapping]] = ..., directory: _Optional[str] = ..., user: _Optional[str] = ..., slave_id: _Optional[_Union[_mesos_pb2.SlaveID, _Mapping]] = ..., slave_pid: _Optional[str] = ..., checkpoint: _Optional[bool] = ...) -> None: ...

class Update(_message.Message):
    __slots__ = ("container_id", "resources")
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    container_id: _mesos_pb2.ContainerID
    resources: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.Resource]
    def __init__(self, container_id: _Optional[_Union[_mesos_pb2.ContainerID, _Mapping]] = ..., resources: _Optional[_Iterable[_Union[_mesos_pb2.Resource, _Mapping]]] = ...) -> None: ...

class Wait(_message.Message):
    __slots__ = ("container_id",)
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    container_id: _mesos_pb2.ContainerID
    def __init__(self, container_id: _Optional[_Union[_mesos_pb2.ContainerID, _Mapping]] = ...) -> None: ...

class Destroy(_message.Message):
    __slots__ = ("container_id",)
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    container_id: _mesos_pb2.ContainerID
    def __init__(self, container_id: _Optional[_Union[_mesos_pb2.ContainerID, _Mapping]] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("container_id",)
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    container_id: _mesos_pb2.ContainerID
    def __init__(self, container_id: _Optional[_Union[_mesos_pb2.ContainerID, _Mapping]] = ...) -> None: ...

class Termination(_message.Message):
    __slots__ = ("status", "state", "reasons", "message")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    status: int
    state: _mesos_pb2.TaskState
    reasons: _containers.RepeatedScalarFieldContainer[_mesos_pb2.TaskStatus.Reason]
    message: str
    def __init__(self, status: _Optional[int] = ..., state: _Optional[_Union[_mesos_pb2.TaskState, str]] = ..., reasons: _Optional[_Iterable[_Union[_mesos_pb2.TaskStatus.Reason, str]]] = ..., message: _Optional[str] = ...) -> None: ...

class Containers(_message.Message):
    __slots__ = ("containers",)
    CONTAINERS_FIELD_NUMBER: _ClassVar[int]
    containers: _containers.RepeatedCompositeFieldContainer[_mesos_pb2.ContainerID]
    def __init__(self, containers: _Optional[_Iterable[_Union[_mesos_pb2.ContainerID, _Mapping]]] = ...) -> None: ...
