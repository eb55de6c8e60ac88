"""Failures counted by reason, not by value: "The domain name {…} does not exist." is one
reason however many domains it names, each reason with the first few rows that have it."""

from __future__ import annotations

import re
from typing import Any

import orjson

DUPLICATE_REASON = "A repeat of an e-mail already added to the same campaign"
EXAMPLES = 3
"""Rows kept as examples of each reason (their lines; the first one's error body too)."""
HOLE = "…"

_REPEAT = "The same e-mail is already added to campaign "
_LINE = re.compile(r"\(line \d+(?: of [^)]*)?\)")
_GOT_NUMBER = re.compile(r"\bgot -?\d+(?:\.\d+)?\b")
_RECORD_FIELDS = re.compile(r"\b\d+ fields, the header has \d+\b")
_QUOTED_CHARS = re.compile(r"(?<=: )'.'(?:, '.')*")

Reason = tuple[int, str, str]
"""(code, field label, reason template)."""


def reason_template(description: str, value: Any = None, keyword: str = "") -> str:
    """The description with what is particular to one value taken out: the value itself (and
    an e-mail's domain), lengths and counts it reports, the line a repeat refers to."""
    if keyword == "dedupe" or description.startswith(_REPEAT):
        return DUPLICATE_REASON
    text = description
    if isinstance(value, str) and value:
        if len(value) <= 200:
            text = text.replace(repr(value), HOLE)
            # (Short values would match inside the sentence's own words.)
            if len(value) >= 4:
                text = text.replace(value, HOLE)
        domain = value.rpartition("@")[2] if "@" in value else ""
        if len(domain) >= 4:
            text = text.replace(domain, HOLE)
    # Each pattern needs its literal: the `in` test is far cheaper than a search that finds
    # nothing, and every refused row's failures come through here.
    if "(line " in text:
        text = _LINE.sub(f"(line {HOLE})", text)
    if "got " in text:
        text = _GOT_NUMBER.sub(f"got {HOLE}", text)
    if " fields, the header has " in text:
        text = _RECORD_FIELDS.sub(f"{HOLE} fields, the header has {HOLE}", text)
    if ": '" in text:
        text = _QUOTED_CHARS.sub(HOLE, text)
    return text


def note_example(examples: dict[Reason, tuple[list[int], bytes]], reason: Reason, line: int,
                 body: bytes | None, cap: int) -> None:
    """Keep ``line`` (and, for the first, its error ``body``) as an example of ``reason``."""
    found = examples.get(reason)
    if found is None:
        if len(examples) < cap:
            examples[reason] = ([line], body or b"")
    elif len(found[0]) < EXAMPLES and found[0][-1] != line:
        found[0].append(line)


def body_json(body: bytes) -> str:
    """An error body as indented JSON text, for people to read."""
    try:
        return orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")
