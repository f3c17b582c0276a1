"""The one place where text becomes HTML or script data.

* :func:`escape_html` for text placed in HTML markup.
* :func:`script_json` for data embedded in a ``<script>`` block: JSON in which ``<``, ``>``,
  ``&`` and the JavaScript line separators are escaped, so no district name can close the script
  element or start markup. The map's JavaScript then inserts every string with ``textContent``,
  never as HTML.
"""
from __future__ import annotations

import html
import json
from typing import Any

_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def escape_html(text: object) -> str:
    """Escape text for HTML element content and attribute values."""
    return html.escape(str(text), quote=True)


def script_json(data: Any) -> str:
    """JSON text that is safe to place inside ``<script>...</script>``."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return "".join(_SCRIPT_ESCAPES.get(ch, ch) for ch in text)
