#!/usr/bin/env python3
"""Writes docs/api.md, Kassa's HTTP API reference, from engine/src/api/openapi.json.

The OpenAPI document is what a running Kassa serves at GET /openapi.json; this renders it as one
Markdown page a user can read in the repository. `--check` exits 1 when docs/api.md differs from
what the document gives (CI runs it, so the two cannot drift).

Standard library only.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "engine/src/api/openapi.json"
TARGET = ROOT / "docs/api.md"
METHODS = ["get", "post", "put", "delete", "patch"]


def resolve(document, node):
    """Follows a local `$ref` (one level at a time, until none is left)."""
    while isinstance(node, dict) and "$ref" in node:
        path = node["$ref"].lstrip("#/").split("/")
        target = document
        for part in path:
            target = target[part]
        node = target
    return node


def ref_name(node):
    ref = node.get("$ref", "") if isinstance(node, dict) else ""
    return ref.rsplit("/", 1)[-1] if ref else None


def one_line(text):
    return " ".join((text or "").split()).replace("|", "\\|")


def type_of(document, schema):
    """A short type: `string`, `integer`, `Charge`, `array of LineItem`, `a | b`."""
    name = ref_name(schema)
    if name:
        return f"[{name}](#{name.lower()})"
    schema = schema or {}
    for combiner in ("oneOf", "anyOf"):
        if combiner in schema:
            return " or ".join(type_of(document, part) for part in schema[combiner])
    if "allOf" in schema:
        return " and ".join(type_of(document, part) for part in schema["allOf"])
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        return "array of " + type_of(document, schema.get("items", {}))
    if "enum" in schema:
        return " \\| ".join(f"`{value}`" for value in schema["enum"])
    return kind


def properties_table(document, schema, lines):
    schema = resolve(document, schema)
    properties = schema.get("properties", {})
    if not properties:
        return
    required = set(schema.get("required", []))
    lines.append("| field | type | required | description |")
    lines.append("|---|---|---|---|")
    for name, field in properties.items():
        description = field.get("description") or resolve(document, field).get("description", "")
        lines.append(
            f"| `{name}` | {type_of(document, field)} | {'yes' if name in required else ''} "
            f"| {one_line(description)} |"
        )
    lines.append("")


def operation(document, path, method, op, shared_parameters, lines):
    lines.append(f"### `{method.upper()} {path}`")
    lines.append("")
    if op.get("summary"):
        lines.append(f"**{op['summary']}.**" if not op["summary"].endswith(".") else f"**{op['summary']}**")
        lines.append("")
    if op.get("description"):
        lines.append(op["description"].strip())
        lines.append("")
    auth = "none" if op.get("security") == [] else "`Authorization: Bearer <secret key>`"
    lines.append(f"Authentication: {auth}.")
    lines.append("")
    parameters = [resolve(document, p) for p in shared_parameters + op.get("parameters", [])]
    if parameters:
        lines.append("| parameter | in | required | description |")
        lines.append("|---|---|---|---|")
        for parameter in parameters:
            lines.append(
                f"| `{parameter['name']}` | {parameter['in']} | "
                f"{'yes' if parameter.get('required') else ''} | "
                f"{one_line(parameter.get('description'))} |"
            )
        lines.append("")
    body = resolve(document, op.get("requestBody", {}))
    for content_type, content in body.get("content", {}).items():
        schema = content.get("schema", {})
        name = ref_name(schema)
        lines.append(f"Request body (`{content_type}`)" + (f": {type_of(document, schema)}" if name else "") + ".")
        lines.append("")
        if content_type == "application/json":
            properties_table(document, schema, lines)
    lines.append("| status | meaning |")
    lines.append("|---|---|")
    for status, response in op.get("responses", {}).items():
        response = resolve(document, response)
        shown = one_line(response.get("description"))
        for content in response.get("content", {}).values():
            if "schema" in content and ref_name(content["schema"]):
                shown += f" ({type_of(document, content['schema'])})"
                break
        lines.append(f"| {status} | {shown} |")
    lines.append("")


def render(document):
    info = document.get("info", {})
    lines = [
        "# Kassa's HTTP API",
        "",
        "<!-- Written by scripts/api_reference.py from engine/src/api/openapi.json: edit those. -->",
        "",
        f"Version {info.get('version', '')}. A running Kassa serves the same description as OpenAPI 3 "
        "at `GET /openapi.json`.",
        "",
    ]
    if info.get("description"):
        lines += [info["description"].strip(), ""]
    by_tag = {}
    for path, item in document["paths"].items():
        shared = item.get("parameters", [])
        for method in METHODS:
            if method in item:
                op = item[method]
                tag = (op.get("tags") or ["Other"])[0]
                by_tag.setdefault(tag, []).append((path, method, op, shared))
    tag_order = [tag["name"] for tag in document.get("tags", [])]
    tags = sorted(by_tag, key=lambda tag: (tag_order.index(tag) if tag in tag_order else len(tag_order), tag))
    lines.append("## Contents")
    lines.append("")
    for tag in tags:
        lines.append(f"- [{tag}](#{tag.lower().replace(' ', '-')})")
    lines.append("- [Objects](#objects)")
    lines.append("")
    descriptions = {tag["name"]: tag.get("description", "") for tag in document.get("tags", [])}
    for tag in tags:
        lines.append(f"## {tag}")
        lines.append("")
        if descriptions.get(tag):
            lines += [descriptions[tag].strip(), ""]
        for path, method, op, shared in by_tag[tag]:
            operation(document, path, method, op, shared, lines)
    lines.append("## Objects")
    lines.append("")
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        lines.append(f"### {name}")
        lines.append("")
        if schema.get("description"):
            lines += [schema["description"].strip(), ""]
        if "properties" in schema:
            properties_table(document, schema, lines)
        else:
            lines += [f"Type: {type_of(document, schema)}.", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def main():
    written = render(json.loads(SOURCE.read_text()))
    if "--check" in sys.argv[1:]:
        if not TARGET.exists() or TARGET.read_text() != written:
            print(f"{TARGET.relative_to(ROOT)} is not what {SOURCE.relative_to(ROOT)} gives: "
                  "run scripts/api_reference.py", file=sys.stderr)
            return 1
        return 0
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
