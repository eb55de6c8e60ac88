"""Mapping files: header → target path, checked against the header and the schema, and guessed
from a header for the user to edit (`validator check FILE --suggest-mapping`).

A mapping file is a JSON object. A key is a header of the file and its value the target path
(dotted, `campaign.campaignId`, `customFieldValues.<name or ID>`), or null to drop the column.
A value that is an object builds its *key* (then a target) from several columns:
``"name": {"join": ["First Name", "Last Name"], "separator": " "}`` (the separator defaults to
one space; empty cells are left out).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from .._account import Account, NameIndex
from .._exceptions import InputError
from .._registry import default_registry
from ..rules import SchemaView

CUSTOM_FIELDS = "customFieldValues"

MappingEntry = str | None | Mapping[str, Any]
"""A mapping file's value: a target path, null (drop the column) or a join."""


@dataclass(frozen=True, slots=True)
class Join:
    """One field built from several columns."""

    target: str
    columns: tuple[str, ...]
    separator: str = " "


def load_mapping(path: str) -> dict[str, MappingEntry]:
    """Read and check the shape of a mapping file; InputError in one sentence otherwise."""
    try:
        with open(path, "rb") as handle:
            data = orjson.loads(handle.read())
    except OSError as exc:
        raise InputError(f"cannot read the mapping file {path}: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the mapping file {path} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InputError(f"the mapping file {path} must be a JSON object of header name → "
                         "target path (or null to drop the column)")
    for key, value in data.items():
        if isinstance(value, dict):
            _join(key, value, path)
        elif not (isinstance(value, str) or value is None):
            raise InputError(f"the mapping file {path} maps {key!r} to {value!r}: expected a "
                             "target path, null, or {\"join\": [columns], \"separator\": \" \"}")
    return {str(k).strip(): v for k, v in data.items()}


def _join(target: str, spec: Mapping[str, Any], where: str) -> Join:
    columns = spec.get("join")
    separator = spec.get("separator", " ")
    if not (isinstance(columns, list) and columns and all(isinstance(c, str) for c in columns)
            and isinstance(separator, str) and set(spec) <= {"join", "separator"}):
        raise InputError(f"{where}: the entry for {target!r} must be {{\"join\": [column, ...], "
                         f"\"separator\": \" \"}}, got {orjson.dumps(spec).decode()[:80]}")
    return Join(target.strip(), tuple(c.strip() for c in columns), separator)


def split_mapping(mapping: Mapping[str, MappingEntry]
                  ) -> tuple[dict[str, str | None], list[Join]]:
    """The renames (header → target or None) and the joins of a mapping."""
    renames: dict[str, str | None] = {}
    joins: list[Join] = []
    for key, value in mapping.items():
        if isinstance(value, Mapping):
            joins.append(_join(key, value, "the mapping"))
        else:
            renames[key] = value
    return renames, joins


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    lowered = {c.lower(): c for c in choices}
    close = [lowered[word.lower()]] if word.lower() in lowered else \
        difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def field_paths(view: SchemaView, limit: int = 4) -> list[str]:
    """The dotted paths of the schema's fields (objects are entered, arrays are fields)."""
    found: list[str] = []

    def walk(path: tuple[str, ...]) -> None:
        node = view.node(path)
        properties = node.get("properties") if node is not None else None
        if not isinstance(properties, dict):
            return
        for name in properties:
            found.append(".".join((*path, name)))
            if len(path) + 1 < limit:
                walk((*path, name))

    walk(())
    return found


def is_field(view: SchemaView, parts: Sequence[str]) -> bool:
    """Whether a target path names a field of the schema (`customFieldValues.<x>` is one
    where the schema has custom fields). A schema that declares no properties takes any."""
    root = view.node(())
    if root is None or not isinstance(root.get("properties"), dict):
        return True
    if parts[0] == CUSTOM_FIELDS and len(parts) == 2:
        return view.node((CUSTOM_FIELDS,)) is not None
    return view.node(parts) is not None


def custom_field_id(name: str, account: Account | None) -> str:
    """The ID a `customFieldValues.<name>` column stands for: with an account that knows its
    custom fields, the field of that name (or ID), else an InputError with a "did you mean";
    without one, the name is the ID."""
    if account is None or account.custom_fields is None:
        return name
    found = account.custom_field_named(name)
    if found is None:
        fields = account.custom_fields
        choices = [f.name for f in fields.values()] + list(fields)
        raise InputError(f"the column target {CUSTOM_FIELDS}.{name} names no custom field of "
                         f"the account ({account.source}){_did_you_mean(name, choices)}")
    return found.field_id


def check_mapping(header: Sequence[str], renames: Mapping[str, str | None],
                  joins: Sequence[Join], view: SchemaView) -> None:
    """A mapping key that is not a header, a join of a column that is not one, or a target
    that is not a field of the schema: InputError with a "did you mean"."""
    names = [h.strip() for h in header]
    present = set(names)
    for key in renames:
        if key not in present:
            raise InputError(f"the mapping names the column {key!r}, which is not in the "
                             f"header{_did_you_mean(key, names)}")
    for join in joins:
        for column in join.columns:
            if column not in present:
                raise InputError(f"the mapping joins the column {column!r} into "
                                 f"{join.target!r}, but it is not in the header"
                                 f"{_did_you_mean(column, names)}")
    targets = [(key, t) for key, t in renames.items() if t] + \
        [(f"join of {', '.join(j.columns)}", j.target) for j in joins]
    for key, target in targets:
        if not is_field(view, target.split(".")):
            raise InputError(f"the mapping maps {key!r} to {target!r}, which is not a field of "
                             f"the schema{_did_you_mean(target, field_paths(view))}")


# -- guessing ---------------------------------------------------------------------------------

def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "mail", "emailadres", "emails", "useremail"),
    "name": ("name", "fullname", "contactname", "customername", "displayname"),
    "first": ("firstname", "first", "givenname", "fname", "forename"),
    "last": ("lastname", "last", "surname", "familyname", "lname"),
    "phone": ("phone", "phonenumber", "mobile", "mobilephone", "tel", "telephone", "cell",
              "phone1", "cellphone", "mobilenumber"),
    "campaign.campaignId": ("campaign", "campaignid", "list", "listid", "campaigntoken"),
    "tags": ("tags", "tag", "labels", "label"),
    "ipAddress": ("ip", "ipaddress", "ipaddr"),
    "scoring": ("score", "scoring"),
}
_KIND_OF = {alias: kind for kind, aliases in _ALIASES.items() for alias in aliases}


def _phone_field(header: str, account: Account | None) -> str | None:
    fields = [f for f in (account.custom_fields or {}).values() if f.type == "phone"] \
        if account is not None else []
    if not fields:
        return None
    close = difflib.get_close_matches(_norm(header), [_norm(f.name) for f in fields], n=1,
                                      cutoff=0.0)
    chosen = next((f for f in fields if close and _norm(f.name) == close[0]), fields[0])
    return f"{CUSTOM_FIELDS}.{chosen.name}"


def guess(header: str, view: SchemaView, account: Account | None) -> str | None:
    """The target a header most likely stands for, or None."""
    name = header.strip()
    parts = name.split(".")
    if name and (view.node(tuple(parts)) is not None
                 or (parts[0] == CUSTOM_FIELDS and len(parts) == 2 and is_field(view, parts))):
        return name
    key = _norm(name)
    if account is not None:
        field = next((f for f in (account.custom_fields or {}).values()
                      if _norm(f.name) == key), None)
        if field is not None:
            return f"{CUSTOM_FIELDS}.{field.name}"
    kind = _KIND_OF.get(key)
    if kind is None:
        return None
    if kind == "phone":
        return _phone_field(name, account)
    if kind in ("first", "last"):
        return kind
    target = kind
    return target if is_field(view, target.split(".")) else None


def suggest_mapping(header: Sequence[str], schema_name: str, account: Account | None,
                    rows: Sequence[Sequence[str]] = (), list_separator: str = "|"
                    ) -> tuple[dict[str, MappingEntry], list[str]]:
    """A mapping guessed from a header for a registered schema (every column, null where
    nothing fits), and notes on what the guess could not settle. With an account, ``rows``
    (the first rows' cells) find the campaign and tag columns by their values too, names
    included, and the notes say which values the account does not have."""
    registry = default_registry()
    document, base_uri = registry.get(schema_name)
    view = SchemaView(document, base_uri, registry.resources())
    mapping, notes = _suggest(header, view, account)
    if account is not None and rows:
        notes += _by_values(mapping, header, rows, account, view, list_separator)
    return mapping, notes


_TARGETS = {"campaign": "campaign.campaignId", "tag": "tags"}


def _by_values(mapping: dict[str, MappingEntry], header: Sequence[str],
               rows: Sequence[Sequence[str]], account: Account, view: SchemaView,
               separator: str) -> list[str]:
    """Campaign and tag columns found (or checked) by their values: a column left unmapped
    whose values are mostly the account's campaigns (or tags), by name or ID, is mapped to
    them; for the columns mapped so, notes on names (they become IDs as the file is read),
    and on values the account does not have or has several of."""
    notes: list[str] = []
    names = [h.strip() for h in header]
    for kind, target in _TARGETS.items():
        items = account.id_names(kind)
        if items is None or not is_field(view, target.split(".")):
            continue
        index = NameIndex(items)

        def values(column: int, kind: str = kind) -> list[str]:
            cells = [r[column] for r in rows if column < len(r) and r[column]]
            if kind == "tag":
                return [p.strip() for c in cells for p in c.split(separator) if p.strip()]
            return cells

        mapped = [i for i, name in enumerate(names) if mapping.get(name) == target]
        if not mapped:
            for column, name in enumerate(names):
                found = values(column)
                if mapping.get(name) is None and found and sum(
                        isinstance(index.resolve(v), str) for v in found) \
                        >= 0.8 * len(found):
                    mapping[name] = target
                    mapped = [column]
                    notes.append(f"the column {name!r} holds the account's {kind}s: mapped to "
                                 f"{target}")
                    break
        for column in mapped:
            notes += _value_notes(names[column], kind, values(column), index,
                                  {ident for ident, _ in items})
    return notes


def _value_notes(name: str, kind: str, values: Sequence[str], index: NameIndex,
                 ids: set[str]) -> list[str]:
    resolved = {v: index.resolve(v) for v in values}
    by_name = sorted(v for v, found in resolved.items()
                     if v not in ids and isinstance(found, str))
    unknown = sorted(v for v, found in resolved.items() if found is None)
    several = sorted(v for v, found in resolved.items() if isinstance(found, tuple))

    def shown(found: list[str]) -> str:
        return ", ".join(repr(v) for v in found[:5]) + (f" and {len(found) - 5} more"
                                                         if len(found) > 5 else "")

    notes = []
    if by_name:
        notes.append(f"the column {name!r} names {kind}s ({shown(by_name)}): with --account "
                     "they become their IDs as the file is read")
    if unknown:
        notes.append(f"values of the column {name!r} in the first rows that are no {kind} "
                     f"of the account: {shown(unknown)} (their rows will be 1001)")
    if several:
        notes.append(f"values of the column {name!r} that name several {kind}s of the "
                     f"account: {shown(several)} (write the ID; their rows will be 1003)")
    return notes


def _suggest(header: Sequence[str], view: SchemaView, account: Account | None
             ) -> tuple[dict[str, MappingEntry], list[str]]:
    mapping: dict[str, MappingEntry] = {}
    notes: list[str] = []
    first = last = None
    for raw in header:
        name = raw.strip()
        target = guess(name, view, account)
        if target == "first" and first is None:
            first = name
            continue
        if target == "last" and last is None:
            last = name
            continue
        if target is None and _KIND_OF.get(_norm(name)) == "phone":
            notes.append(f"the column {name!r} looks like a phone number, but contacts have no "
                         "phone field: map it to a phone custom field "
                         f"({CUSTOM_FIELDS}.<name>; give --account to find it)")
        mapping[name] = target if target not in ("first", "last") else None
    taken = set(mapping.values())
    parts = [c for c in (first, last) if c is not None]
    if parts and "name" not in taken and is_field(view, ["name"]):
        mapping["name"] = {"join": parts, "separator": " "}
    else:
        mapping.update({c: None for c in parts})
    return mapping, notes


def required_paths(view: SchemaView) -> list[tuple[str, ...]]:
    """The required fields of the schema, and the required fields of required objects."""
    found: list[tuple[str, ...]] = []

    def walk(path: tuple[str, ...]) -> None:
        node = view.node(path)
        required = node.get("required") if node is not None else None
        if not isinstance(required, list):
            return
        for name in required:
            if isinstance(name, str):
                below = (*path, name)
                child = view.node(below)
                if child is not None and isinstance(child.get("required"), list) \
                        and len(below) < 4:
                    walk(below)
                else:
                    found.append(below)

    walk(())
    return found


def mapping_notes(header: Sequence[str], reached: Sequence[tuple[str, ...]],
                  unmapped: Sequence[str], view: SchemaView, account: Account | None,
                  filled: Sequence[tuple[str, ...]] = ()) -> list[str]:
    """What a user should know about how a header was mapped: the columns that reach no field
    (listed once), and each required field no column reaches, with the header that looks
    like it."""
    notes: list[str] = []
    if unmapped:
        shown = ", ".join(repr(c) for c in unmapped[:20])
        more = f" and {len(unmapped) - 20} more" if len(unmapped) > 20 else ""
        notes.append(f"columns that reach no field of the schema (left as they are): "
                     f"{shown}{more}")
    for path in required_paths(view):
        if path in filled or any(r[:len(path)] == path for r in reached):
            continue
        dotted = ".".join(path)
        looks = [h.strip() for h in header if guess(h, view, account) == dotted]
        if not looks:
            close = difflib.get_close_matches(_norm(path[-1]), [_norm(h) for h in header], n=1,
                                              cutoff=0.6)
            looks = [h.strip() for h in header if close and _norm(h) == close[0]]
        # (json, not orjson: a header read with surrogateescape may hold lone surrogates.)
        hint = (f"; the column {looks[0]!r} looks like it: map it with --mapping "
                f"({{{json.dumps(looks[0])}: \"{dotted}\"}}) or see "
                "--suggest-mapping") if looks else "; see --suggest-mapping"
        notes.append(f"no column reaches the required field {dotted}{hint}")
    return notes
