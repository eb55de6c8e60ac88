"""The long fuzz run: the drivers of `tests/fuzzing.py` fed by a fast, seeded, mutation-based
generator (plain `random`), for a million inputs in minutes.

    python benchmarks/fuzz.py                                   # 100,000 inputs on all cores
    python benchmarks/fuzz.py --inputs 1000000 --jobs 2 --seed 7
    python benchmarks/fuzz.py --inputs 50000 --mix api=1        # the API alone

Inputs start from realistic values (a contact, a sample of every shipped schema made from the
schema itself, CSV and JSON Lines files of contacts, requests to the API's routes) and take a
few random mutations each: hostile pieces put in place of a value (nesting thousands deep,
integers past 64 bits, lone surrogates, odd Unicode, long strings, wrong types), JSON text cut,
spliced or re-encoded, query strings with deep brackets and bad escapes, raw HTTP requests, CSV
and JSON Lines bytes, gzip and UTF-16 files. The same `--seed` gives the same inputs.

Every call is timed. A call whose CPU time is over `--slow` seconds (1) on an input within the
documented limits (README "Limits") counts as a hang; one whose wall time alone is over it is
reported apart (a loaded host). Past `--kill` seconds (10) a call is interrupted; it counts as
killed when it had used more than `--slow` seconds of CPU by then, or when it is interrupted
again when run once more. A call interrupted with almost no CPU time was starved by the host (a
run at `nice 19` beside busy processes gets a sliver of a core), which is load, not a hang.
Exit status 1 when anything failed, hung or lost rows.
"""

from __future__ import annotations

import argparse
import codecs
import gzip
import json
import multiprocessing
import os
import random
import string
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import h11

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import fuzzing as fz

from validator import Validator

DEFAULT_MIX = "api=86,asgi=4,http=4,wsgi=3,schema=2,batch=1"
CHUNK = 5000
# Past this many characters an input may be outside the documented limits (a record of 4 MiB,
# a body limit): its slowness is reported but is not a hang.
WITHIN_LIMITS = 1_000_000

# -- hostile pieces ----------------------------------------------------------------------------

ODD_TEXT = [
    "", " ", "   ", "\t", "\x00", "\x7f", "\ud800", "a\udfffb", "\udc80\ud800", "\u202e",
    "\u200b", "e\u0301", "\U0001f600", "\U0001f1f5\U0001f1f1", "\ufeff", "\u2028", "\ufffd",
    "\uff4a\uff4f\uff48\uff4e@example.com", "jöhn@exämple.com",
    "john@xn--exmple-cua.com", "a@b", "@", "a@",
    "@b.co", "john..doe@example.com", "john@example..com", "john@[127.0.0.1]", '"a b"@c.co',
    "john@example.com\n", " john@example.com", "true", "false", "null", "0", "-1", "1e400",
    "NaN", "2024-02-30", "2017-03-02T07:30:49+0000", "2017-13-02T25:30:49Z", "+48600100200",
    "600100200", "+1", "http://example.com/x", "http://", "javascript:alert(1)",
    "127.0.0.1", "999.1.1.1", "::1", "::ffff:1.2.3.4", "1::2::3", "ASC", "DESC", "pV3r",
    "V3J", "a[b]=c", "%00", "%FF", "<script>", "'; DROP TABLE x;--", "{{7*7}}", "${x}",
    "a" * 30 + "!", "\\", '"', "[", "]", "{", "}",
]
BIG_INTS = [2**63 - 1, 2**63, 2**64, 2**64 + 1, -(2**63) - 1, 10**30, -(10**30), 10**400]
ODD_NUMBERS = [0, -0.0, 1.5, 1e308, -1e308, 5e-324, float("inf"), float("-inf"), float("nan"),
               True, False, *BIG_INTS]
CHARSETS = [string.ascii_letters, string.digits, string.printable, "aA0@.-_+ ",
            "".join(map(chr, range(0x80, 0x250))), "\ud800\udfff\u200b\U0001f600é\x00\n"]
KEYS = ["", " ", "\ud800", "__proto__", "constructor", "$ref", "a" * 300, "email", "name",
        "campaign", "campaignId", "tags", "tagId", "customFieldValues", "values", "x"]


def rare(rng: random.Random, common: list[int], rare: list[int], chance: float = 0.02) -> int:
    """A size: mostly one of `common`, now and then one of `rare` (the costly ones)."""
    return rng.choice(rare if rng.random() < chance else common)


def long_text(rng: random.Random) -> str:
    n = rare(rng, [65, 129, 255, 256, 1000, 5000], [100_000, rng.randrange(1, 300_000)])
    if rng.random() < 0.002:
        n = 1_000_000
    piece = rng.choice(["a", "é", "\U0001f600", "ab1", " ", "@"])
    return (piece * (n // len(piece) + 1))[:n]


def long_email(rng: random.Random) -> str:
    n = rare(rng, [63, 64, 65, 200, 250, 254, 255, 1000, 5000],
             [100_000, rng.randrange(1, 300_000)])
    if rng.random() < 0.002:
        n = 1_000_000
    kind = rng.randrange(4)
    if kind == 0:
        return "a" * n + "@example.com"
    if kind == 1:
        return "john@" + "a" * n + ".com"
    if kind == 2:
        return "john@" + ".".join(["a" * 63] * max(1, n // 64)) + ".com"
    return ("a" * n + "@" + "b" * n + ".com")[: max(n, 3)]


def random_text(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.6:
        return rng.choice(ODD_TEXT)
    if r < 0.9:
        chars = rng.choice(CHARSETS)
        return "".join(rng.choices(chars, k=rng.randrange(0, 16)))
    if r < 0.97:
        return long_email(rng)
    return long_text(rng)


def deep(rng: random.Random, leaf: Any = None) -> Any:
    depth = rare(rng, [rng.randrange(1, 40), 63, 64, 65, 127, 128, 129, 200, 256],
                 [1000, rng.randrange(1, 5000)], 0.03)
    kind = rng.random() < 0.5
    return fz.nest(depth, "list" if kind else "dict", leaf)


def hostile(rng: random.Random) -> Any:
    """One hostile value of any kind."""
    r = rng.random()
    if r < 0.45:
        return random_text(rng)
    if r < 0.62:
        return rng.choice(ODD_NUMBERS)
    if r < 0.70:
        return rng.choice([None, [], {}, [None], {"": None}, [[]], {"a": {}}])
    if r < 0.73:
        return deep(rng, rng.choice([None, 1, "a", {}]))
    if r < 0.77:
        # Python values that are not JSON types: the API takes them to the engine.
        return rng.choice([(1, 2), ("a",), Decimal("1.5"), Decimal("1e400"), Decimal("NaN")])
    if r < 0.88:
        return [hostile(rng) for _ in range(rng.randrange(0, 4))]
    return {rng.choice(KEYS): hostile(rng) for _ in range(rng.randrange(0, 4))}


# -- realistic seeds -------------------------------------------------------------------------

CONTACT = {
    "name": "John Doe", "email": "john.doe@example.com", "dayOfCycle": "10",
    "campaign": {"campaignId": "V3J"}, "scoring": 25, "ipAddress": "1.2.3.4",
    "tags": [{"tagId": "pV3r"}, {"tagId": "Xy7"}],
    "customFieldValues": [{"customFieldId": "pq1", "value": ["18-35"]}],
}
FORMAT_SAMPLES = {
    "email": "john.doe@example.com", "ipv4": "1.2.3.4", "ipv6": "::1", "ip": "1.2.3.4",
    "date": "2024-01-31", "date-time": "2017-03-02T07:30:49+0000", "uri": "http://example.com",
    "url": "https://example.com/x", "phone": "+48600100200", "resource-id": "V3J",
    "string-boolean": "true",
}


def _resolve(node: Any, root: Any) -> Any:
    for _ in range(10):
        ref = node.get("$ref") if isinstance(node, dict) else None
        if not (isinstance(ref, str) and ref.startswith("#/")):
            return node
        target = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        node = target
    return node


def sample(node: Any, root: Any, depth: int = 0) -> Any:
    """A plausible value for a schema node: its enum, its format's example, its properties."""
    node = _resolve(node, root)
    if not isinstance(node, dict) or depth > 8:
        return "x"
    for key in ("allOf", "anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and options:
            merged: Any = sample(options[0], root, depth + 1)
            if key == "allOf" and isinstance(merged, dict):
                for other in options[1:]:
                    extra = sample(other, root, depth + 1)
                    if isinstance(extra, dict):
                        merged.update(extra)
            return merged
    if isinstance(node.get("enum"), list) and node["enum"]:
        return node["enum"][0]
    if "const" in node:
        return node["const"]
    kind = node.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind is None:
        kind = "object" if "properties" in node else "string"
    if kind == "object":
        return {name: sample(sub, root, depth + 1)
                for name, sub in (node.get("properties") or {}).items()}
    if kind == "array":
        return [sample(node.get("items", {}), root, depth + 1)]
    if kind == "integer":
        return node.get("minimum", 1)
    if kind == "number":
        return node.get("minimum", 1.5)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if node.get("format") in FORMAT_SAMPLES:
        return FORMAT_SAMPLES[node["format"]]
    return "a" * max(1, min(int(node.get("minLength", 3)), 64))


@cache
def seeds() -> dict[str, tuple[Any, tuple[str, ...], bool]]:
    """Each shipped schema's sample payload, its property names and whether it is a query."""
    out = {}
    for name in fz.shipped_schemas():
        checker = Validator(name)
        document = checker.schema
        value = CONTACT if name == "contacts.create" else sample(document, document)
        out[name] = (value, tuple(sorted(fz.property_names(document, set()))), checker.is_query)
    return out


# -- mutations -------------------------------------------------------------------------------


def copy(value: Any, depth: int = 0) -> Any:
    """A copy as deep as `mutate` reaches (`_slots`); below that the value is shared."""
    if depth > 13:
        return value
    if isinstance(value, dict):
        return {k: copy(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [copy(v, depth + 1) for v in value]
    return value


def _slots(value: Any, out: list[tuple[Any, Any]], depth: int = 0) -> None:
    """(container, key) pairs of every place in a (shallow enough) value."""
    if depth > 12:
        return
    if isinstance(value, dict):
        for key, item in list(value.items())[:20]:
            out.append((value, key))
            _slots(item, out, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value[:20]):
            out.append((value, index))
            _slots(item, out, depth + 1)


def mutate(rng: random.Random, value: Any, names: tuple[str, ...] = ()) -> Any:
    """A few random changes to a copy of `value`."""
    value = copy(value)
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        slots: list[tuple[Any, Any]] = []
        _slots(value, slots)
        r = rng.random()
        if not slots or r < 0.05:
            value = hostile(rng) if rng.random() < 0.5 else value
            continue
        container, key = rng.choice(slots)
        if r < 0.55:
            container[key] = hostile(rng)
        elif r < 0.70:
            if isinstance(container, dict):
                del container[key]
            else:
                container.pop(key)
        elif r < 0.80 and isinstance(container, dict):
            container[rng.choice([*names, *KEYS]) if names else rng.choice(KEYS)] = hostile(rng)
        elif r < 0.88 and isinstance(container, list):
            container.extend(copy(container[key]) for _ in range(rare(rng, [1, 2, 50], [600])))
        elif r < 0.94:
            container[key] = deep(rng, container[key])
        else:
            item = container[key]
            # The wrong type: text for a scalar, a number for a container, a list for text.
            container[key] = [item] if isinstance(item, str) else \
                len(item) if isinstance(item, dict | list | tuple) else str(item)
    return value


def to_json(rng: random.Random, value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=rng.random() < 0.3, allow_nan=True)
    except (ValueError, TypeError, RecursionError):
        return "[]"


BYTE_PIECES = [b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x00", b"\\u0000",
               b"\\ud800", b'"', b"\\", b"[", b"{", b"}", b"]", b",", b":", b"1e999", b"-",
               b"1" * 5000, b"9" * 30, b"NaN", b"Infinity", b"\n", b"\r", b"\t", b" " * 100,
               b'"a":1,"a":2', b"\xef\xbb\xbf"]


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 4])):
        at = rng.randrange(len(buf) + 1)
        r = rng.random()
        if r < 0.35:
            buf[at:at] = rng.choice(BYTE_PIECES)
        elif r < 0.55 and buf:
            buf[at:at + rng.randrange(1, 8)] = b""
        elif r < 0.70 and buf:
            buf[min(at, len(buf) - 1)] = rng.randrange(256)
        elif r < 0.80:
            del buf[at:]
        elif r < 0.90:
            n = rare(rng, [100, 127, 128, 129, 1000], [20_000])
            buf[at:at] = b"[" * n + b"]" * n if rng.random() < 0.5 else b"[" * n
        else:
            start = rng.randrange(len(buf) + 1)
            buf[at:at] = buf[start:start + rng.randrange(1, 64)]
    return bytes(buf)


def json_payload(rng: random.Random, value: Any) -> str | bytes:
    text = to_json(rng, value)
    r = rng.random()
    if r < 0.45:
        return text
    data = text.encode("utf-8", "surrogatepass")
    if r < 0.85:
        return mutate_bytes(rng, data)
    if r < 0.92:
        return codecs.BOM_UTF8 + data
    return text.encode("utf-16", "surrogatepass")


def query_string(rng: random.Random, names: tuple[str, ...]) -> str:
    pairs = []
    for _ in range(rng.randrange(0, 7)):
        name = rng.choice(names) if names and rng.random() < 0.8 else random_text(rng)[:8]
        r = rng.random()
        if r < 0.5:
            brackets = "".join(rng.choice(["[]", f"[{rng.choice(names or ('q',))}]", "[", "]",
                                           "][", "%5B", "%5D"]) for _ in range(rng.randrange(3)))
        elif r < 0.8:
            brackets = "[a]" * rare(rng, [1, 31, 32, 33, 100], [600])
        else:
            brackets = "[" * rare(rng, [1, 32, 33, 100], [5000])
        value = rng.choice([*ODD_TEXT[:40], "1", "-5", "99999999999999999999", "5000", "%",
                            "%zz", "+", "a+b", "%E2%82", "ASC"])
        pairs.append(f"{name}{brackets}={value}" if rng.random() < 0.9 else f"{name}{brackets}")
    joined = "&".join(pairs)
    if rng.random() < 0.1:
        joined = "&" * rng.randrange(1, 5) + joined + "&="
    return joined


def api_input(rng: random.Random) -> tuple[str, Any]:
    name = rng.choice(fz.shipped_schemas())
    value, names, is_query = seeds()[name]
    if is_query:
        r = rng.random()
        if r < 0.6:
            return name, query_string(rng, names)
        if r < 0.8:
            return name, {rng.choice(names or ("q",)) if rng.random() < 0.8 else
                          rng.choice(KEYS): rng.choice([random_text(rng), [random_text(rng)]])
                          for _ in range(rng.randrange(0, 5))}
        return name, [(rng.choice(names or ("q",)), random_text(rng))
                      for _ in range(rng.randrange(0, 4))]
    payload = mutate(rng, value, names)
    if rng.random() < 0.25:
        return name, json_payload(rng, payload)
    return name, payload


# -- user schemas ----------------------------------------------------------------------------

TYPES = ["string", "integer", "number", "boolean", "null", "array", "object"]
FORMATS = [*FORMAT_SAMPLES, "uuid", "hostname", "regex", "no-such-format"]
PATTERNS = ["^(a+)+$", "(a|aa)+$", "^(a|a?)+$", "(.*a){12}$", "^(\\d+)*$", "^([a-z]+)*@",
            "(a*)*b", "^[_a-zA-Z0-9]{2,64}$", "^[0-9]+$", "a", "", "(", "[", "\\p{L}+",
            "^\\d{3}$", "(?i)abc", "(?<n>a)\\k<n>", "x{2,1}", "\\"]


def _wrong(rng: random.Random) -> Any:
    return rng.choice(["x", 1.5, -1, True, None, [1, 2], {"a": 1}, "", 10**400])


def schema_node(rng: random.Random, depth: int = 0) -> Any:
    if depth >= 3 or rng.random() < 0.12:
        return rng.choice([True, False, {}])

    def sub() -> Any:
        return schema_node(rng, depth + 1)

    def words() -> list[Any]:
        return [random_text(rng)[:6] for _ in range(rng.randrange(0, 4))]

    table: dict[str, Callable[[], Any]] = {
        "type": lambda: rng.choice(TYPES) if rng.random() < 0.7
        else rng.sample(TYPES, rng.randrange(1, 4)),
        "minLength": lambda: rng.randrange(0, 7), "maxLength": lambda: rng.randrange(0, 7),
        "pattern": lambda: rng.choice(PATTERNS),
        "enum": lambda: [hostile(rng) for _ in range(rng.randrange(1, 4))],
        "const": lambda: hostile(rng),
        "minimum": lambda: rng.choice([-3, 0, 2.5, *BIG_INTS]),
        "maximum": lambda: rng.choice([-3, 0, 2.5, *BIG_INTS]),
        "exclusiveMinimum": lambda: rng.choice([-3, 0, 2.5, 2**64]),
        "exclusiveMaximum": lambda: rng.choice([-3, 0, 2.5, 2**64]),
        "multipleOf": lambda: rng.choice([1, 3, 0.01, 1e-300, 2**64, 0.1]),
        "minItems": lambda: rng.randrange(0, 5), "maxItems": lambda: rng.randrange(0, 5),
        "minProperties": lambda: rng.randrange(0, 5),
        "maxProperties": lambda: rng.randrange(0, 5),
        "uniqueItems": lambda: rng.random() < 0.5, "format": lambda: rng.choice(FORMATS),
        "items": sub, "contains": sub, "minContains": lambda: rng.randrange(0, 4),
        "maxContains": lambda: rng.randrange(0, 4), "propertyNames": sub,
        "properties": lambda: {rng.choice(["a", "b", "email", "\ud800"]): sub()
                               for _ in range(rng.randrange(0, 3))},
        "patternProperties": lambda: {rng.choice(PATTERNS): sub()
                                      for _ in range(rng.randrange(0, 3))},
        "additionalProperties": lambda: sub() if rng.random() < 0.5 else rng.random() < 0.5,
        "unevaluatedProperties": lambda: rng.random() < 0.5,
        "required": lambda: rng.sample(["a", "b", "email"], rng.randrange(0, 3)),
        "anyOf": lambda: [sub() for _ in range(rng.randrange(1, 4))],
        "oneOf": lambda: [sub() for _ in range(rng.randrange(1, 4))],
        "allOf": lambda: [sub() for _ in range(rng.randrange(1, 4))], "not": sub,
        "$ref": lambda: rng.choice(["#", "#/$defs/x", "#/properties/v", "urn:nowhere"]),
        "$defs": lambda: {"x": sub()},
        "notBlank": lambda: rng.random() < 0.5, "reservedWords": words,
        "forbiddenWords": words,
        "forbiddenCharacters": lambda: random_text(rng)[:5] if rng.random() < 0.5 else words(),
        "noEmoji": lambda: rng.random() < 0.5, "mx": lambda: rng.random() < 0.5,
        "phoneRegion": lambda: rng.choice(["PL", "US", "XX", "", "pl"]),
    }
    node: dict[str, Any] = {}
    for keyword in rng.sample(sorted(table), rng.randrange(1, 5)):
        node[keyword] = table[keyword]() if rng.random() < 0.85 else _wrong(rng)
    return node


def schema_input(rng: random.Random) -> tuple[Any, Any, bool]:
    value = hostile(rng) if rng.random() < 0.6 else rng.choice(
        ["a" * rng.randrange(0, 60) + rng.choice("!b1@ "), {"a": "x", "b": [1]}, [1, 1, "a"]])
    return schema_node(rng), value, rng.random() < 0.5


# -- batch files -----------------------------------------------------------------------------

CSV_HEADERS = ["email", "name", "campaign.campaignId", "scoring", "tags", "dayOfCycle",
               "ipAddress", "customFieldValues.pq1", "note"]


def _cell(rng: random.Random, text: str, delimiter: str) -> str:
    if rng.random() < 0.3 or any(c in text for c in (delimiter, '"', "\n", "\r")):
        return '"' + text.replace('"', '""') + '"' if rng.random() < 0.95 else '"' + text
    return text


def csv_file(rng: random.Random) -> bytes:
    delimiter = rng.choice([",", ";", "\t", "|"])
    newline = rng.choice(["\n", "\r\n", "\r"])
    headers = rng.sample(CSV_HEADERS, rng.randrange(1, len(CSV_HEADERS) + 1))
    if rng.random() < 0.1:
        headers.append(random_text(rng)[:20])
    if rng.random() < 0.02:
        headers += [f"c{i}" for i in range(rng.choice([1999, 2001, 5000]))]
    good = {"email": "john.doe@example.com", "name": "John", "campaign.campaignId": "V3J",
            "scoring": "5", "tags": "pV3r", "dayOfCycle": "3", "ipAddress": "1.2.3.4",
            "customFieldValues.pq1": "18-35", "note": "x"}
    lines = [delimiter.join(_cell(rng, h, delimiter) for h in headers)]
    for i in range(rng.randrange(0, 12)):
        cells = [good.get(h, "") if rng.random() < 0.8 else random_text(rng)
                 for h in headers]
        if "email" in headers:
            cells[headers.index("email")] = f"user{i}@example.com" if rng.random() < 0.8 \
                else random_text(rng)
        if rng.random() < 0.1:
            cells = cells[: rng.randrange(len(cells) + 1)] + ["extra"] * rng.randrange(3)
        lines.append(delimiter.join(_cell(rng, c, delimiter) for c in cells))
    if rng.random() < 0.1:
        lines.insert(rng.randrange(1, len(lines) + 1), "")
    return newline.join(lines).encode("utf-8", "surrogatepass")


def jsonl_file(rng: random.Random) -> bytes:
    lines = []
    for i in range(rng.randrange(0, 12)):
        contact = copy(CONTACT)
        contact["email"] = f"user{i}@example.com"
        line = to_json(rng, mutate(rng, contact) if rng.random() < 0.6 else contact)
        lines.append(line.encode("utf-8", "surrogatepass"))
    if lines and rng.random() < 0.4:
        at = rng.randrange(len(lines))
        # Within a line: a JSON Lines record never takes in its neighbour's newline.
        lines[at] = mutate_bytes(rng, lines[at]).replace(b"\n", b" ")
    if rng.random() < 0.2:
        lines.insert(rng.randrange(len(lines) + 1), rng.choice([b"", b" ", b"\r", b"\t"]))
    return b"\n".join(lines)


def json_array_file(rng: random.Random) -> bytes:
    items = [to_json(rng, mutate(rng, CONTACT)) for _ in range(rng.randrange(0, 8))]
    data = ("[" + ",".join(items) + "]").encode("utf-8", "surrogatepass")
    return mutate_bytes(rng, data) if rng.random() < 0.3 else data


def batch_input(rng: random.Random) -> tuple[bytes, str | None, str]:
    kind = rng.choice(["csv", "csv", "jsonl", "jsonl", "json", "bytes"])
    if kind == "bytes":
        data = rng.randbytes(rng.randrange(0, 3000))
    else:
        data = {"csv": csv_file, "jsonl": jsonl_file, "json": json_array_file}[kind](rng)
    how = rng.choice(["plain"] * 6 + ["bom", "utf16", "gzip", "gzip-cut"])
    if how == "bom":
        data = codecs.BOM_UTF8 + data
    elif how == "utf16":
        data = data.decode("utf-8", "replace").encode("utf-16")
    elif how == "gzip":
        data = gzip.compress(data, mtime=0)
    elif how == "gzip-cut":
        packed = gzip.compress(data, mtime=0)
        data = packed[: max(2, len(packed) // 2)]
    fmt = rng.choice([None, kind if kind != "bytes" else None, "csv", "jsonl"])
    if how != "plain" and fmt == "jsonl":
        fmt = None  # the rows-lost count is for plain JSON Lines
    suffix = {"csv": ".csv", "jsonl": ".jsonl", "json": ".json", "bytes": ".txt"}[kind]
    if how.startswith("gzip"):
        suffix += ".gz"
    return data, fmt, rng.choice([suffix, suffix, ".txt"])


# -- requests --------------------------------------------------------------------------------

TOKENS = [fz.KEY, "short", "a" * 33, "k3y-abc-123", "", "\u00e9" * 10, "k3yAbc123\r\nX: y"]
HEADERS: dict[str, Callable[[random.Random], str]] = {
    "content-type": lambda rng: rng.choice([
        "application/json", "application/json; charset=utf-8", "application/json; charset=latin-1",
        "APPLICATION/JSON", "text/plain", "application/json;", "", "multipart/x",
        'application/json; charset="UTF-8"']),
    "x-auth-token": lambda rng: rng.choice(["api-key ", "API-KEY ", "", "api-key", "bearer "])
    + rng.choice(TOKENS),
    "authorization": lambda rng: rng.choice(["Bearer ", "bearer ", "Basic ", ""])
    + rng.choice(TOKENS),
    "content-length": lambda rng: rng.choice(["", "abc", "1e3", " 5", "99999999999999999", "-1",
                                              str(rng.randrange(0, 2_000_000))]),
    "x-forwarded-for": lambda rng: rng.choice(["1.2.3.4", "", "::1, 2.2.2.2", "x" * 300]),
}


def request_parts(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.8:
        method, pattern = rng.choice(fz.route_paths())
        path = fz.fill_route(pattern, [rng.choice(["abc", "pV3r", "", "a/b", "..", "%2F",
                                                   random_text(rng)[:10]]) for _ in range(3)])
    else:
        method = rng.choice(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])
        path = "/v3/" + random_text(rng)[:12]
    if rng.random() < 0.05:
        method = rng.choice(["OPTIONS", "TRACE", "post", "GET ", "X" * 20])
    names = seeds()["contacts.list.query"][1]
    headers = [(name, HEADERS[name](rng)) for name in rng.sample(sorted(HEADERS),
                                                                 rng.randrange(0, 4))]
    if rng.random() < 0.7:
        headers += [("content-type", "application/json"), ("x-auth-token", f"api-key {fz.KEY}")]
    body = json_payload(rng, mutate(rng, CONTACT))
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    return {"variant": rng.randrange(2), "method": method, "path": path,
            "query": query_string(rng, names).encode("utf-8", "surrogatepass"),
            "headers": headers, "body": body,
            "split": [rng.randrange(0, 200) for _ in range(rng.randrange(0, 3))],
            "disconnect": rng.random() < 0.1}


def raw_request(rng: random.Random) -> bytes:
    """A request as bytes on the wire, then mutated as bytes."""
    parts = request_parts(rng)
    target = parts["path"] + ("?" + parts["query"].decode("utf-8", "surrogatepass")
                              if parts["query"] else "")
    if rng.random() < 0.9:
        # As a client sends it: what may not stand in a request line percent-encoded.
        target = quote(target, safe="/?&=[]%+:@!$'()*,;~", errors="surrogatepass")
    lines = [f"{parts['method']} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in parts["headers"]
              if name != "content-length"]
    body: bytes = parts["body"]
    length = len(body) if rng.random() < 0.85 else rng.choice([0, len(body) // 2, 10**6])
    if rng.random() < 0.9:
        lines.append(f"Content-Length: {length}")
    else:
        lines.append("Transfer-Encoding: chunked")
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogatepass")
    data = head + body
    return mutate_bytes(rng, data) if rng.random() < 0.3 else data


class ParserRefused(Exception):
    """h11 (the protocol `validator serve` runs) refuses the bytes itself: uvicorn answers 400
    before the guard sees anything."""


def http_call(data: bytes, variant: int, split: list[int]) -> None:
    """Raw bytes through h11, the request it reads through the ASGI guard."""
    connection = h11.Connection(h11.SERVER)
    connection.receive_data(data)
    connection.receive_data(b"")
    request = None
    chunks: list[bytes] = []
    disconnect = False
    try:
        while True:
            event = connection.next_event()
            if isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage | h11.PAUSED):
                break
            elif event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                disconnect = True  # the client went away mid-message
                break
    except h11.RemoteProtocolError as exc:
        if request is None:
            raise ParserRefused(str(exc)) from None
        disconnect = True
    if request is None:
        raise ParserRefused("no request line")
    target = bytes(request.target)
    raw_path, _, query = target.partition(b"?")
    path = raw_path.decode("latin-1")
    headers = [(bytes(n), bytes(v)) for n, v in request.headers]
    body = b"".join(chunks)
    fz.asgi_call(variant, request.method.decode("latin-1"), path, query, headers,
                 fz.split_body(body, split) if not disconnect else [body], disconnect)


def http_input(rng: random.Random) -> tuple[bytes, int, list[int]]:
    return raw_request(rng), rng.randrange(2), [rng.randrange(0, 200)
                                                for _ in range(rng.randrange(0, 3))]


TARGETS: dict[str, tuple[Callable[[random.Random], Any], Callable[[Any], None]]] = {
    "api": (api_input, lambda case: fz.api_call(*case)),
    "schema": (schema_input, lambda case: fz.user_schema_call(*case)),
    "batch": (batch_input, lambda case: fz.batch_call(*case)),
    "asgi": (request_parts, fz.asgi_request),
    "wsgi": (request_parts, fz.wsgi_request),
    "http": (http_input, lambda case: http_call(*case)),
}
"""Each target's generator and driver."""


def size_of(case: Any) -> int:
    """A rough size: past `WITHIN_LIMITS` an input may be outside the documented limits."""
    if isinstance(case, str | bytes):
        return len(case)
    if isinstance(case, dict):
        return sum(size_of(k) + size_of(v) for k, v in list(case.items())[:50])
    if isinstance(case, list | tuple):
        return sum(size_of(v) for v in case[:50])
    return 1


# -- the run ---------------------------------------------------------------------------------


@dataclass
class Tally:
    inputs: int = 0
    seconds: float = 0.0
    slow: int = 0  # CPU time over --slow, within the limits: a hang
    slow_wall: int = 0  # wall time over --slow only: the host's load
    slow_outside: int = 0  # over --slow on an input past the documented limits
    killed: int = 0
    starved: int = 0  # interrupted with under --slow of CPU, then run again (load)
    rows_lost: int = 0
    refused_by_parser: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        for name in ("inputs", "seconds", "slow", "slow_wall", "slow_outside", "killed",
                     "starved", "rows_lost", "refused_by_parser"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failures.update(other.failures)
        for kind, example in other.examples.items():
            self.examples.setdefault(kind, example)


def _show(case: Any) -> str:
    """A short repr of an input; deep ones (thousands of levels) have none of their own."""
    try:
        text = repr(case)
    except RecursionError:
        text = f"<{type(case).__name__} nested past the recursion limit>"
    return text if len(text) <= 300 else text[:300] + f"... ({len(text):,} chars)"


def run_chunk(job: tuple[str, int, int, float, float]) -> tuple[str, Tally]:
    """`count` inputs of one target from a generator seeded with `seed`."""
    target, count, seed, slow, kill = job
    fz.HANG_SECONDS = kill
    fz.warm_up()
    seeds()
    generate, driver = TARGETS[target]
    rng = random.Random(seed)
    tally = Tally()
    for _ in range(count):
        case = generate(rng)
        tally.inputs += 1
        kind, wall, cpu = _run_case(driver, case, slow, tally)
        tally.seconds += wall
        if wall > slow:
            if size_of(case) > WITHIN_LIMITS:
                tally.slow_outside += 1
            elif cpu > slow:
                tally.slow += 1
                tally.examples.setdefault(f"hang > {slow:g} s CPU", _show(case))
            else:
                tally.slow_wall += 1
        if kind is not None:
            tally.failures[kind] += 1
            tally.examples.setdefault(kind, _show(case))
    return target, tally


_KILLED = "killed"


def _run_case(driver: Callable[[Any], None], case: Any, slow: float, tally: Tally
              ) -> tuple[str | None, float, float]:
    """`_call`, once more when the call was interrupted before it had used `slow` seconds of
    CPU (starved by the host, not stuck); a call interrupted for good is tallied as killed."""
    kind, wall, cpu = _call(driver, case, tally)
    if kind == _KILLED and cpu <= slow:
        tally.starved += 1
        kind, wall, cpu = _call(driver, case, tally)
    if kind == _KILLED:
        tally.killed += 1
        tally.examples.setdefault("killed", _show(case))
        kind = None
    return kind, wall, cpu


def _call(driver: Callable[[Any], None], case: Any, tally: Tally) -> tuple[str | None, float,
                                                                          float]:
    """One call of the driver: its failure kind (or `_KILLED`, or None), wall and CPU time."""
    kind = None
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        driver(case)
    except fz.Hang:
        kind = _KILLED
    except ParserRefused:
        tally.refused_by_parser += 1
    except Exception as exc:
        kind = fz.describe(exc)
        if isinstance(exc, fz.Broken) and exc.kind == "rows lost":
            tally.rows_lost += exc.amount
    return kind, time.perf_counter() - wall, time.process_time() - cpu


def _mix(text: str) -> dict[str, int]:
    weights: dict[str, int] = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        weights[name.strip()] = int(weight or 1)
    return weights


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs in all")
    parser.add_argument("--mix", default=DEFAULT_MIX,
                        help=f"targets and their shares (default {DEFAULT_MIX})")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slow", type=float, default=1.0, help="seconds: a hang")
    parser.add_argument("--kill", type=float, default=10.0, help="seconds: interrupt a call")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="inputs per task")
    args = parser.parse_args(argv)

    weights = _mix(args.mix)
    unknown = set(weights) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s) {sorted(unknown)}; known: {sorted(TARGETS)}")
    total = sum(weights.values())
    jobs: list[tuple[str, int, int, float, float]] = []
    for index, (target, weight) in enumerate(sorted(weights.items())):
        share = args.inputs * weight // total
        for n, start in enumerate(range(0, share, args.chunk)):
            jobs.append((target, min(args.chunk, share - start),
                         args.seed * 1_000_003 + index * 100_003 + n, args.slow, args.kill))
    # Interleaved, so that an interrupted run has seen some of every target.
    jobs.sort(key=lambda job: job[2] % 100_003)

    tallies = {target: Tally() for target in weights}
    began = time.perf_counter()
    if args.jobs <= 1:
        results = map(run_chunk, jobs)
        pool = None
    else:
        pool = multiprocessing.get_context("fork").Pool(args.jobs, maxtasksperchild=10)
        results = pool.imap_unordered(run_chunk, jobs)
    try:
        for done, (target, tally) in enumerate(results, 1):
            for kind, example in tally.examples.items():
                if kind not in tallies[target].examples:  # say each new kind at once
                    print(f"{target}: new: {kind}\n    e.g. {example}", file=sys.stderr)
            tallies[target].add(tally)
            seen = sum(t.inputs for t in tallies.values())
            print(f"{done}/{len(jobs)} chunks, {seen:,} inputs, "
                  f"{time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    wall = time.perf_counter() - began

    print(f"fuzz run: {args.inputs:,} inputs asked, --mix {args.mix}, --jobs {args.jobs}, "
          f"--seed {args.seed}, wall {wall:.1f} s, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'target':<7} {'inputs':>10} {'failures':>8} {'hangs':>5} {'killed':>6} "
          f"{'rows lost':>9} {'slow wall':>9} {'slow big':>8} {'starved':>7} {'h11 400':>7} "
          f"{'inputs/s/core':>13}")
    bad = 0
    for target, t in sorted(tallies.items()):
        failed = sum(t.failures.values())
        bad += failed + t.slow + t.killed + t.rows_lost
        rate = t.inputs / t.seconds if t.seconds else 0.0
        print(f"{target:<7} {t.inputs:>10,} {failed:>8,} {t.slow:>5,} {t.killed:>6,} "
              f"{t.rows_lost:>9,} {t.slow_wall:>9,} {t.slow_outside:>8,} {t.starved:>7,} "
              f"{t.refused_by_parser:>7,} {rate:>13,.0f}")
    inputs = sum(t.inputs for t in tallies.values())
    print(f"{'all':<7} {inputs:>10,}   {inputs / wall:,.0f} inputs/s over {args.jobs} processes")
    for target, t in sorted(tallies.items()):
        if not t.failures and not t.slow and not t.killed:
            continue
        print(f"\n{target}: failures by kind")
        for kind, count in t.failures.most_common():
            print(f"  {count:>8,}  {kind}\n            e.g. {t.examples[kind]}")
        for kind, example in t.examples.items():
            if kind.startswith("hang") or kind == "killed":
                count = t.slow if kind.startswith("hang") else t.killed
                print(f"  {count:>8,}  {kind}\n            e.g. {example}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
