"""Incident titles and dedup keys from templates such as ``"{channel_id}:{top_category}"``.

Only the names below may appear, without attribute access, indexing, conversions or format
specs, so a template can neither fail at run time nor reach into Python objects.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

TEMPLATE_NAMES = frozenset(
    {
        "rule_id",
        "rule_name",
        "message_id",
        "conversation_id",
        "channel_id",
        "platform",
        "language",
        "sentiment",
        "top_category",
        "team_id",
        "urgency",
        "excerpt",
    }
)
EXCERPT_CHARS = 80
_formatter = string.Formatter()


def excerpt(text: str, max_chars: int = EXCERPT_CHARS) -> str:
    """``text`` on one line, cut at a word boundary to at most ``max_chars`` (with "…")."""
    flat = " ".join(text.split())
    if len(flat) <= max_chars:
        return flat
    cut = flat[: max_chars - 1]
    head, space, _ = cut.rpartition(" ")
    if space and len(head) >= max_chars // 2:  # a very long word is cut inside instead
        cut = head
    return cut.rstrip(" ,;:.-–") + "…"


def check_template(template: str) -> str:
    try:
        parts = list(_formatter.parse(template))
    except ValueError as exc:
        raise ValueError(f"not a usable template: {exc}") from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in TEMPLATE_NAMES:
            raise ValueError(
                f"unknown template name {{{name}}}; known: "
                + ", ".join("{" + n + "}" for n in sorted(TEMPLATE_NAMES))
            )
        if spec or conversion:
            raise ValueError(f"{{{name}}}: format specs and conversions are not supported")
    return template


def render(template: str, values: Mapping[str, object]) -> str:
    out: list[str] = []
    for literal, name, _, _ in _formatter.parse(template):
        out.append(literal)
        if name is not None:
            value = values.get(name)
            out.append("" if value is None else str(value))
    return "".join(out)
