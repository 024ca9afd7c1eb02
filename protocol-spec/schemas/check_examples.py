#!/usr/bin/env python3
"""Validate server->client messages against the schemas in this folder.

Usage:
  check_examples.py            validate examples/*.json (must pass) and examples/invalid/*.json (must fail)
  check_examples.py FILE...    validate the given files, each holding one message
  check_examples.py -          validate stdin, one message per line

Every message is checked against server-message-any.json; an example named after a
schema (e.g. ack-*.json) is also checked against that schema, so a message matching the
wrong branch of the oneOf is caught.
"""
import json
import pathlib
import sys

import jsonschema
from referencing import Registry, Resource

HERE = pathlib.Path(__file__).resolve().parent
SCHEMAS = {p.name: json.loads(p.read_text()) for p in HERE.glob("*.json")}
REGISTRY = Registry().with_resources(
    (schema["$id"], Resource.from_contents(schema)) for schema in SCHEMAS.values()
)


def errors(message, schema_name="server-message-any.json"):
    schema = SCHEMAS[schema_name]
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, registry=REGISTRY)
    return [e.message for e in validator.iter_errors(message)]


def check(name, text, expect_valid=True):
    message = json.loads(text)
    found = errors(message)
    specific = next((s for s in SCHEMAS if name.startswith(s[:-5] + "-")), None)
    if specific and not found:
        found = errors(message, specific)
    ok = (not found) == expect_valid
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {found or 'unexpectedly valid'}"))
    return ok


def main(args):
    results = []
    if args == ["-"]:
        for number, line in enumerate(sys.stdin, 1):
            if line.strip():
                results.append(check(f"stdin:{number}", line))
    elif args:
        results = [check(pathlib.Path(a).name, pathlib.Path(a).read_text()) for a in args]
    else:
        for path in sorted((HERE / "examples").glob("*.json")):
            results.append(check(path.name, path.read_text()))
        for path in sorted((HERE / "examples" / "invalid").glob("*.json")):
            results.append(check("invalid/" + path.name, path.read_text(), expect_valid=False))
    return 0 if results and all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
