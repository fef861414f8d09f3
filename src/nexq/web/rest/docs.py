"""A readable reference page, rendered on the server from the OpenAPI document (no CDN)."""

from __future__ import annotations

import html
import json
from typing import Any

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-bottom:1px solid #ddd;margin-top:2.5rem}
.op{border:1px solid #e3e3e3;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}
.m{font-weight:700;font-family:monospace;padding:.1rem .4rem;border-radius:4px;color:#fff}
.GET{background:#2b7bb9}.POST{background:#2e9d57}.DELETE{background:#c0392b}
.PATCH,.PUT{background:#b9770e}
code,pre{font-family:ui-monospace,monospace;font-size:13px}
pre{background:#f6f8fa;padding:.5rem;overflow:auto;border-radius:4px}
td,th{text-align:left;padding:.15rem .6rem .15rem 0;vertical-align:top}
"""


def _schema(spec: dict[str, Any], schema: dict[str, Any]) -> str:
    """A schema, its references resolved one level, as indented JSON."""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        schema = spec.get("components", {}).get("schemas", {}).get(name, schema)
    shown = {k: v for k, v in schema.items() if k in ("properties", "required", "type", "items")}
    return json.dumps(shown or schema, indent=2)


def render(spec: dict[str, Any]) -> str:
    """The HTML reference for ``spec``."""
    e = html.escape
    info = spec.get("info", {})
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{e(info.get('title', ''))}"
        f"</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(info.get('title', ''))} <small>{e(info.get('version', ''))}</small></h1>",
        f"<p>{e(info.get('description', ''))}</p>",
        "<p>Machine-readable: <a href='/v1/openapi.json'>/v1/openapi.json</a>.</p>",
    ]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            tag = (op.get("tags") or ["other"])[0]
            by_tag.setdefault(tag, []).append((method.upper(), path, op))
    for tag, ops in by_tag.items():
        out.append(f"<h2>{e(tag)}</h2>")
        for method, path, op in ops:
            out.append(
                f"<div class='op'><span class='m {method}'>{method}</span> <code>{e(path)}</code>"
            )
            out.append(
                f"<p><b>{e(op.get('summary', ''))}</b><br>{e(op.get('description', ''))}</p>"
            )
            security = op.get("security")
            if security:
                out.append("<p>Needs a bearer token.</p>")
            params = op.get("parameters", [])
            if params:
                out.append("<table><tr><th>parameter</th><th>in</th><th>description</th></tr>")
                for p in params:
                    out.append(
                        f"<tr><td><code>{e(p['name'])}</code></td><td>{e(p['in'])}</td>"
                        f"<td>{e(p.get('description', ''))}</td></tr>"
                    )
                out.append("</table>")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                out.append(f"<p>Body:</p><pre>{e(_schema(spec, body['schema']))}</pre>")
            for status, response in op.get("responses", {}).items():
                out.append(f"<p>{e(status)}: {e(response.get('description', ''))}</p>")
            out.append("</div>")
    out.append("</body></html>")
    return "\n".join(out)
