"""Protobuf <-> JSON the way the 1.0.4 agent does it on /api/v1/executor.

The agent converts with stout (JSON::protobuf / protobuf::parse) on *v1*
messages, not with protobuf's canonical JSON: field names stay snake_case,
int64 are numbers, enums are names, bytes are base64, and unset optional
fields that declare a default are printed. We hold v0 messages, so names are
renamed to their v1 spelling (slave -> agent) on the way out and back in.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

_T = FieldDescriptor


class JSONMappingError(ValueError):
    """The JSON does not fit the message (what stout's parse would reject)."""


def v1_name(v0: str) -> str:
    """v1 spelling of a v0 field or enum value name."""
    return v0.replace("slave", "agent").replace("SLAVE", "AGENT")


def _v0_name(v1: str) -> str:
    return v1.replace("agent", "slave").replace("AGENT", "SLAVE")


def _scalar_out(field: FieldDescriptor, value: Any) -> Any:
    if field.type == _T.TYPE_BYTES:
        return base64.b64encode(value).decode("ascii")
    if field.type == _T.TYPE_ENUM:
        return v1_name(field.enum_type.values_by_number[value].name)
    if field.type == _T.TYPE_MESSAGE:
        return to_json(value)
    return value


def to_json(message: Message) -> dict[str, Any]:
    """stout JSON::protobuf: set fields, non-empty repeated, and defaults."""
    out: dict[str, Any] = {}
    descriptor: Descriptor = message.DESCRIPTOR
    for field in descriptor.fields:
        if field.is_repeated:
            values = getattr(message, field.name)
            if len(values) > 0:
                out[v1_name(field.name)] = [_scalar_out(field, v) for v in values]
        elif message.HasField(field.name) or field.has_default_value:
            out[v1_name(field.name)] = _scalar_out(field, getattr(message, field.name))
    return out


_NUMBER_TYPES = {
    _T.TYPE_DOUBLE,
    _T.TYPE_FLOAT,
    _T.TYPE_INT64,
    _T.TYPE_SINT64,
    _T.TYPE_SFIXED64,
    _T.TYPE_UINT64,
    _T.TYPE_FIXED64,
    _T.TYPE_INT32,
    _T.TYPE_SINT32,
    _T.TYPE_SFIXED32,
    _T.TYPE_UINT32,
    _T.TYPE_FIXED32,
}
_FLOAT_TYPES = {_T.TYPE_DOUBLE, _T.TYPE_FLOAT}


def _scalar_in(field: FieldDescriptor, value: Any) -> Any:
    kind = field.type
    if isinstance(value, bool):
        if kind != _T.TYPE_BOOL:
            raise JSONMappingError(f"Not expecting a JSON boolean for field '{field.name}'")
        return value
    if isinstance(value, str):
        if kind == _T.TYPE_STRING:
            return value
        if kind == _T.TYPE_BYTES:
            try:
                return base64.b64decode(value, validate=True)
            except binascii.Error as exc:
                raise JSONMappingError(
                    f"Failed to base64 decode bytes field '{field.name}': {exc}"
                ) from exc
        if kind == _T.TYPE_ENUM:
            enum_value = field.enum_type.values_by_name.get(_v0_name(value))
            if enum_value is None:
                raise JSONMappingError(f"Failed to find enum for '{value}'")
            return enum_value.number
        raise JSONMappingError(f"Not expecting a JSON string for field '{field.name}'")
    if isinstance(value, int | float):
        if kind not in _NUMBER_TYPES:
            raise JSONMappingError(f"Not expecting a JSON number for field '{field.name}'")
        return float(value) if kind in _FLOAT_TYPES else int(value)
    raise JSONMappingError(f"Unexpected JSON value for field '{field.name}'")


def _merge(message: Message, obj: dict[str, Any]) -> None:
    fields = message.DESCRIPTOR.fields_by_name
    for key, value in obj.items():
        field = fields.get(_v0_name(key))
        if field is None or v1_name(field.name) != key or value is None:
            continue  # Unknown (or v0-only) names are ignored, null is unset.
        if isinstance(value, list):
            if not field.is_repeated:
                raise JSONMappingError(f"Not expecting a JSON array for field '{field.name}'")
            target = getattr(message, field.name)
            for item in value:
                if field.type == _T.TYPE_MESSAGE:
                    if not isinstance(item, dict):
                        raise JSONMappingError(f"Expecting a JSON object in '{field.name}'")
                    _merge(target.add(), item)
                else:
                    target.append(_scalar_in(field, item))
        elif isinstance(value, dict):
            if field.type != _T.TYPE_MESSAGE:
                raise JSONMappingError(f"Not expecting a JSON object for field '{field.name}'")
            if field.is_repeated:
                _merge(getattr(message, field.name).add(), value)
            else:
                _merge(getattr(message, field.name), value)
                getattr(message, field.name).SetInParent()
        elif field.is_repeated:
            getattr(message, field.name).append(_scalar_in(field, value))
        else:
            setattr(message, field.name, _scalar_in(field, value))


def from_json(obj: Any, cls: type[Message]) -> Message:
    """stout protobuf::parse<T>: then require every required field."""
    if not isinstance(obj, dict):
        raise JSONMappingError("Expecting a JSON object")
    message = cls()
    _merge(message, obj)
    if not message.IsInitialized():
        missing = ", ".join(message.FindInitializationErrors())
        raise JSONMappingError(f"Missing required fields: {missing}")
    return message
