"""Self-contained HTML pages: sections of tables and figures, PNGs embedded as base64.

One writer for every HTML page of the project (``ntkflow report`` and ``ntkflow reproduce
all``). A page carries a small script that records, in ``<pre id="image-check">``, whether
every image decoded in the browser (``naturalWidth > 0``), for people and for tests. Nothing
on a page is fetched from the network; links are relative.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

IMAGE_CHECK = """
<script>
// Records whether every figure decoded (naturalWidth > 0), for people and for tests.
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.querySelectorAll("img"));
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  var el = document.getElementById("image-check");
  el.textContent = JSON.stringify({images: imgs.length, loaded: imgs.length - bad.length,
    failed: bad.map(function (i) { return i.alt; })});
  el.setAttribute("data-done", "1");
});
</script>
"""

STYLE = """
body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
figure{display:inline-block;margin:0.5em;vertical-align:top}
figcaption{font-size:0.85em;color:#555;text-align:center}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:0.2em 0.6em;text-align:left}
pre{background:#f6f6f6;padding:0.8em;overflow:auto}
img{max-width:100%}
.ok{color:#1a7f37}.failed{color:#b42318}
"""

esc = html.escape


def table(rows: Mapping[str, Any]) -> str:
    """A two-column table: one row per ``key: value`` (both escaped)."""
    cells = "".join(
        f"<tr><th>{esc(str(k))}</th><td>{esc(str(v))}</td></tr>" for k, v in rows.items()
    )
    return f"<table>{cells}</table>"


def figure(png: bytes, name: str, caption: str) -> str:
    """A ``<figure>`` with the PNG embedded as base64 (``alt`` = ``name``)."""
    b64 = base64.b64encode(png).decode()
    return (
        f'<figure><img src="data:image/png;base64,{b64}" alt="{esc(name)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def figure_file(path: str | Path, caption: str | None = None) -> str:
    """:func:`figure` of a PNG file (``alt`` = its file name, caption = its name by default)."""
    path = Path(path)
    return figure(path.read_bytes(), path.name, caption or path.name)


def page(title: str, body: str) -> str:
    """A whole HTML document: ``<h1>title</h1>``, ``body`` and the image check."""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>{STYLE}</style></head>
<body>
<h1>{esc(title)}</h1>
{body}
<pre id="image-check">images not checked yet</pre>
{IMAGE_CHECK}
</body></html>
"""


# ---------------------------------------------------------------------------------------------
# The key numbers of a JSON document, as table rows that say where each value came from.

MAX_LIST = 16  # longer lists (histories, spectra) stay in the JSON file
MAX_DEPTH = 4


def _number_list(v: Any) -> bool:
    return (
        isinstance(v, list)
        and 0 < len(v) <= MAX_LIST
        and all(isinstance(u, int | float) and not isinstance(u, bool) or u is None for u in v)
    )


def format_value(v: Any) -> str:
    """Floats with 6 significant digits, number lists as ``[a, b]``, JSON null as ``null``."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else str(v)
    if isinstance(v, list):
        return "[" + ", ".join(format_value(u) for u in v) + "]"
    return str(v)


def key_numbers(data: Any, skip: Iterable[str] = ()) -> list[tuple[list, Any]]:
    """``(path, value)`` for the scalar and short-number-list entries of a JSON document
    ``data``; ``path`` is the list of keys and indices that reaches ``value`` from the top.
    Nested dicts are followed, and lists of dicts up to :data:`MAX_LIST` long; top-level
    keys in ``skip`` (configs, histories, file paths) are left out."""
    skip = set(skip)
    rows: list[tuple[list, Any]] = []

    def walk(v: Any, path: list) -> None:
        if len(path) > MAX_DEPTH:
            return
        if isinstance(v, dict):
            for k, u in v.items():
                if not (len(path) == 0 and k in skip):
                    walk(u, [*path, k])
        elif _records(v):
            for i, u in enumerate(v):
                walk(u, [*path, i])
        elif _number_list(v) or isinstance(v, int | float | bool) or v is None:
            rows.append((path, v))
        elif isinstance(v, str) and len(v) <= 200:
            rows.append((path, v))

    walk(data, [])
    return rows


def _records(v: Any) -> bool:
    """A short list of dicts (one table row each)."""
    return isinstance(v, list) and 0 < len(v) <= MAX_LIST and all(isinstance(u, dict) for u in v)


def label(data: Any, path: list) -> str:
    """``["regimes", 4, "sigma_test"]`` -> ``regimes › finite › sigma_test`` (an item of a
    list shown by its ``name`` when it has one)."""
    parts, node = [], data
    for p in path:
        if isinstance(p, int):
            item = node[p]
            name = item.get("name") if isinstance(item, dict) else None
            parts.append(str(name) if isinstance(name, str | int) else f"[{p}]")
        else:
            parts.append(str(p))
        node = node[p]
    return " › ".join(parts)


def numbers_table(data: Any, skip: Iterable[str] = (), source: str | None = None) -> str:
    """The tables of :func:`key_numbers`: one of ``key | value`` rows, and one grid per list
    of records (a row per record, named by its ``name``). Every value's ``<td>`` has its JSON
    path as ``data-path`` (and each table the file, ``source``, as ``data-json``), so a reader
    or a test can check the shown value against the file."""
    import json

    rows = key_numbers(data, skip)
    if not rows:
        return "<p>No scalar results.</p>"
    attr = f' data-json="{esc(source)}"' if source else ""
    cell = lambda path, v: f'<td data-path="{esc(json.dumps(path))}">{esc(format_value(v))}</td>'
    flat, grids = [], {}  # grids: path of the list -> {index: {key: (path, value)}}
    for path, v in rows:
        at = next((k for k in range(len(path)) if isinstance(path[k], int)), None)
        if at is None or len(path) != at + 2:  # not a plain field of a record
            flat.append((path, v))
        else:
            grids.setdefault(tuple(path[:at]), {}).setdefault(path[at], {})[path[at + 1]] = (
                path,
                v,
            )
    html_ = []
    if flat:
        trs = "".join(f"<tr><th>{esc(label(data, p))}</th>{cell(p, v)}</tr>" for p, v in flat)
        html_.append(f'<table class="numbers"{attr}>{trs}</table>')
    for where, records in grids.items():
        keys = [k for r in records.values() for k in r if k != "name"]
        keys = list(dict.fromkeys(keys))
        head = "".join(f"<th>{esc(str(k))}</th>" for k in keys)
        body = ""
        for i, r in records.items():
            name = r["name"][1] if "name" in r else f"[{i}]"
            tds = "".join(cell(*r[k]) if k in r else "<td></td>" for k in keys)
            body += f"<tr><th>{esc(str(name))}</th>{tds}</tr>"
        title = esc(label(data, list(where)))
        html_.append(
            f'<table class="numbers"{attr}><caption>{title}</caption>'
            f"<tr><th></th>{head}</tr>{body}</table>"
        )
    return "\n".join(html_)
