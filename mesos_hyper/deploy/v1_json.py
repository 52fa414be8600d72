"""Our v0 protobuf messages as the v1 HTTP API's JSON, which is what pymesos sends.

Two differences from ``json_format.MessageToDict``: 64-bit integers stay JSON numbers (a
1.0 master parses a number, not the string proto3's JSON mapping makes of them), and the
v0 ``slave_id`` is v1's ``agent_id``.
"""

from __future__ import annotations

import base64
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

V0_TO_V1 = {"slave_id": "agent_id"}


def to_v1(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        name = V0_TO_V1.get(field.name, field.name)
        if field.is_repeated:
            out[name] = [_value(field, v) for v in value]
        else:
            out[name] = _value(field, value)
    return out


def _value(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return to_v1(value)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return field.enum_type.values_by_number[value].name
    if field.type == FieldDescriptor.TYPE_BYTES:
        return base64.b64encode(value).decode()
    return value
