"""Validate server->client JSON-subprotocol messages against protocol-spec/schemas.

Loads every schema file of protocol-spec/schemas into a `referencing` registry (the files
`$ref` each other by relative name, resolved against their `$id`s), and validates with
jsonschema's draft 2020-12 validator. Requires the `jsonschema` package (with `referencing`).
"""

from __future__ import annotations

import json
import pathlib

import jsonschema
from referencing import Registry, Resource

SCHEMA_DIR = pathlib.Path(__file__).resolve().parents[2] / "protocol-spec" / "schemas"

SCHEMAS: dict[str, dict] = {p.name: json.loads(p.read_text()) for p in sorted(SCHEMA_DIR.glob("*.json"))}
REGISTRY = Registry().with_resources(
    (schema["$id"], Resource.from_contents(schema)) for schema in SCHEMAS.values()
)

_VALIDATORS: dict[str, jsonschema.Draft202012Validator] = {}


def validator(name: str = "server-message-any.json") -> jsonschema.Draft202012Validator:
    v = _VALIDATORS.get(name)
    if v is None:
        schema = SCHEMAS[name]
        jsonschema.Draft202012Validator.check_schema(schema)
        v = jsonschema.Draft202012Validator(schema, registry=REGISTRY)
        _VALIDATORS[name] = v
    return v


def errors(message, name: str = "server-message-any.json") -> list[str]:
    return [e.message for e in validator(name).iter_errors(message)]


def check(message, name: str = "server-message-any.json") -> None:
    """AssertionError unless `message` (a parsed JSON value) is valid against schema `name`."""
    found = errors(message, name)
    assert not found, f"server message does not match {name}: {found}\nmessage: {message!r}"


# Schema file for each kind of message, so a message that matches the wrong oneOf branch is caught.
def specific_schema(message: dict) -> str | None:
    t = message.get("type") if isinstance(message, dict) else None
    if t == "ack":
        return "ack.json"
    if t == "pong":
        return "pong.json"
    if t == "invokeResponse":
        return "invoke-response.json"
    if t == "system":
        return {"connected": "connected.json", "disconnected": "disconnected.json"}.get(message.get("event"))
    if t == "message":
        return {"group": "group-message.json", "server": "server-message.json"}.get(message.get("from"))
    return None


def check_strict(message) -> None:
    """Valid against server-message-any.json and against the schema of its own kind."""
    check(message)
    name = specific_schema(message)
    assert name is not None, f"message of unknown kind: {message!r}"
    check(message, name)
