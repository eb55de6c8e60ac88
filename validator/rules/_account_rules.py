"""The account's rules (SPEC §3): a campaign, tag or custom field the account does not have is
1001, and a custom-field value must fit its field's definition (1003 for its type or a select's
`values`, 1004 for the number of values, 1005 for an empty one).

They are engine keywords, written into the schema by `with_account` before it is compiled, so
the compiled engine, the jsonschema-backed fallback and the quick test all carry them (the
quick test as stricter-or-equal translations: known IDs as an `enum`, each field's values as
far as a JSON Schema can promise them), and a compiled engine is cached per account like any
other rule option. Nothing runs after the engine that a fast path could skip.

The keywords' values are plain JSON, so they can be read (and written) like any other:

* ``accountIds: {"kind": "campaign", "ids": [...]}`` on a string: a well-formed ID that is not
  among `ids` is 1001. An ID that is not well-formed is left to the schema's `format`.
  With ``"names": [[id, name], ...]`` (an account `taking_names`, for batch cells that may
  hold names, which the plan has already turned into IDs where it could) the rule stands in
  for the `resource-id` format: any non-blank value not among `ids` is 1001 with the value
  as written, or 1003 when it names several items; a known ID that is not well-formed is
  still the format's 1003.
* ``accountCustomFields: {"fields": {id: {name, type, format, values}}, "phoneRegion": r}`` on
  a ``customFieldValues`` item: the item's `customFieldId` must be one of `fields`, and its
  `value` must fit that field.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator
from typing import Any

from .._account import Account, CustomField, NameIndex
from .._catalog import Code
from .._results import Failure, Path
from . import _keywords as kw
from ._formats import (
    QUICK_DATE,
    QUICK_DAY,
    QUICK_IP,
    RESOURCE_ID_RE,
    check_date,
    check_date_time,
    check_ip,
    check_phone,
    check_resource_id,
    check_url,
)
from ._nodes import Cell, Node, flat
from ._query import is_query_schema
from ._schema_view import NUMBER_TEXT

IDS = "accountIds"
CUSTOM_FIELDS = "accountCustomFields"

GENDERS = ("Male", "Female", "Prefer not to say")
"""The values of a `gender` custom field (the official document's description)."""

_KIND_WORDS = {"campaign": "Campaign", "tag": "Tag"}


# -- the schema, with the account written in -------------------------------------------------

def with_account(schema: Any, account: Account, phone_region: str | None) -> Any:
    """A copy of the schema with the account's rules at `campaign.campaignId` (or a bare
    `campaignId`), `tags[].tagId` (or `tags.ids[]`) and `customFieldValues[]`, wherever such
    properties stand (in any subschema of the document, `$defs` included; not in query
    schemas); only for the kinds the account gives."""
    if not isinstance(schema, dict):
        return schema
    campaigns, tags, fields = account.campaigns, account.tags, account.custom_fields
    if campaigns is None and tags is None and fields is None:
        return schema
    schema = copy.deepcopy(schema)
    field_rule = None if fields is None else {
        "fields": {ident: {"name": f.name, "type": f.type, "format": f.format,
                           "values": list(f.values)} for ident, f in fields.items()},
        "phoneRegion": phone_region}
    # Query parameters filter by IDs rather than reference them: an unknown one finds nothing.
    if is_query_schema(schema):
        return schema
    for node in _subschemas(schema):
        properties = node.get("properties")
        if not isinstance(properties, dict):
            continue
        if campaigns is not None:
            # `campaign.campaignId` (a contact, a newsletter) or a bare `campaignId` (the
            # destination of `contacts.create-batch`, `imports.create`).
            for target in (_property(_property(node, "campaign"), "campaignId"),
                           _property(node, "campaignId")):
                if target is not None:
                    _put_ids(target, "campaign", campaigns, account)
        if tags is not None:
            # `tags[].tagId`, or `tags.ids[]` (`contacts.create-batch`).
            for target in (_property(_items(_property(node, "tags")), "tagId"),
                           _items(_property(_property(node, "tags"), "ids"))):
                if target is not None:
                    _put_ids(target, "tag", tags, account)
        if field_rule is not None:
            item = _items(_property(node, "customFieldValues"))
            if item is not None and _property(item, "customFieldId") is not None:
                item[CUSTOM_FIELDS] = field_rule
    return schema


def _put_ids(target: dict[str, Any], kind: str, ids: frozenset[str], account: Account) -> None:
    if IDS in target:
        return  # reached again, as the bare `campaignId` of the `campaign` object itself
    rule: dict[str, Any] = {"kind": kind, "ids": sorted(ids)}
    if account.by_name and target.get("format") == "resource-id":
        # The rule says what is wrong with a value that is no ID of the account (one entry:
        # 1001, or 1003 for a name of several), so the format would only say it twice.
        del target["format"]
        rule["names"] = [list(pair) for pair in account.id_names(kind) or ()]
    target[IDS] = rule


def _property(node: Any, name: str) -> dict[str, Any] | None:
    properties = node.get("properties") if isinstance(node, dict) else None
    found = properties.get(name) if isinstance(properties, dict) else None
    return found if isinstance(found, dict) else None


def _items(node: Any) -> dict[str, Any] | None:
    found = node.get("items") if isinstance(node, dict) else None
    return found if isinstance(found, dict) else None


def _subschemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every object in the document that may be a schema (iteratively: a deep schema cannot
    exhaust the stack). Data keywords (`enum`, `const`, `examples`, `default`) are not
    entered."""
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(v for k, v in node.items()
                         if k not in ("enum", "const", "examples", "default", IDS,
                                      CUSTOM_FIELDS))
        elif isinstance(node, list):
            stack.extend(node)


# -- 1001 for an unknown ID ------------------------------------------------------------------

def _checked_id(value: Any) -> bool:
    # Malformed IDs are the format rule's; this rule speaks of IDs that could exist.
    return isinstance(value, str) and RESOURCE_ID_RE.fullmatch(value) is not None


def unknown_id(path: Path, value: str, kind: str) -> Failure:
    return Failure(Code.RELATED_NOT_FOUND, path, value,
                   f"{_KIND_WORDS.get(kind, kind.capitalize())} {value!r} cannot be found in "
                   "the account", keyword=IDS)


def _id_failure(rule: dict[str, Any], known: frozenset[str], value: str,
                names: NameIndex | None = None) -> Callable[[Path], Failure] | None:
    """What is wrong with a string at an account ID, as a failure once its path is known."""
    kind = rule["kind"]
    if rule.get("names") is None:
        if value in known or not _checked_id(value):
            return None
        return lambda path: unknown_id(path, value, kind)
    # Taking names: the rule stands in for the `resource-id` format it replaced.
    if value in known:
        message = check_resource_id(value)
        if message is None:
            return None
        return lambda path: kw.bad_format(path, value, message, "format")
    if not value or value.isspace():
        return None  # empty or blank: `notBlank`'s 1005
    found = (names or NameIndex(rule["names"])).resolve(value)
    if isinstance(found, tuple):
        word = _KIND_WORDS.get(kind, kind.capitalize())
        shown = ", ".join(repr(i) for i in found)
        return lambda path: kw.bad_format(
            path, value, f"{word} name {value!r} is ambiguous: the account has "
            f"{len(found)} {kind}s of that name ({shown}); write the ID", IDS)
    return lambda path: unknown_id(path, value, kind)


def ids_node(rule: dict[str, Any]) -> Node:
    known = frozenset(rule["ids"])
    if rule.get("names") is None:
        kind = rule["kind"]

        def node(value: Any, path: Cell, out: list[Failure]) -> None:
            if value.__class__ is str and value not in known and _checked_id(value):
                out.append(unknown_id(flat(path), value, kind))

        return node

    names = NameIndex(rule["names"])

    def named(value: Any, path: Cell, out: list[Failure]) -> None:
        if value.__class__ is str:
            build = _id_failure(rule, known, value, names)
            if build is not None:
                out.append(build(flat(path)))

    return named


def ids_failure(rule: dict[str, Any], value: str) -> Callable[[Path], Failure] | None:
    """The fallback engine's form: the failure once its path is known."""
    return _id_failure(rule, frozenset(rule["ids"]), value)


def ids_quick(rule: dict[str, Any]) -> dict[str, Any]:
    # Only well-formed IDs: a known one that is not is still the format's 1003.
    ids = [i for i in rule["ids"] if _checked_id(i)]
    return {"enum": ids} if ids else {"not": {}}


def check_ids_rule(rule: Any) -> str | None:
    names = rule.get("names", []) if isinstance(rule, dict) else None
    if isinstance(rule, dict) and isinstance(rule.get("kind"), str) \
            and isinstance(rule.get("ids"), list) \
            and all(isinstance(i, str) for i in rule["ids"]) \
            and isinstance(names, list) \
            and all(isinstance(n, list) and len(n) == 2 and isinstance(n[0], str)
                    and isinstance(n[1], str | None) for n in names):
        return None
    return f"expected {{'kind': ..., 'ids': [strings]}}, got {rule!r}"[:200]


# -- custom-field values ----------------------------------------------------------------------

def _countries() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_2 for c in pycountry.countries)


def _currencies() -> frozenset[str]:
    import pycountry

    return frozenset(c.alpha_3 for c in pycountry.currencies)


@functools.cache
def _codes(kind: str) -> frozenset[str]:
    return _countries() if kind == "country" else _currencies()


def _number(value: str) -> str | None:
    if NUMBER_TEXT.fullmatch(value) is None:
        return f"Expected a number, got {value!r}"
    return None


def _among(kind: str, allowed: Callable[[], frozenset[str]], what: str
           ) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in allowed() else f"Expected {what}, got {value!r}"

    return check


def value_checker(kind: str, phone_region: str | None) -> Callable[[str], str | None] | None:
    """The rule for one value of a custom field of this `type`; None for `string` (any
    non-empty text)."""
    if kind == "phone":
        return functools.partial(check_phone, region=phone_region) if phone_region \
            else check_phone
    return {
        "number": _number,
        "date": check_date,
        "datetime": check_date_time,
        "country": _among("country", lambda: _codes("country"),
                          "an ISO 3166-1 alpha-2 country code such as 'PL'"),
        "currency": _among("currency", lambda: _codes("currency"),
                           "an ISO 4217 currency code such as 'PLN'"),
        "gender": _among("gender", lambda: frozenset(GENDERS),
                         "one of " + ", ".join(repr(g) for g in GENDERS)),
        "ip": check_ip,
        "url": check_url,
    }.get(kind)


def _definition(ident: str, spec: dict[str, Any]) -> CustomField:
    return CustomField(ident, spec["name"], spec["type"], spec["format"], tuple(spec["values"]))


def _value_failures(field: CustomField, check: Callable[[str], str | None] | None,
                    value: list[Any], path: Path) -> list[Failure]:
    """What is wrong with the `value` array of an item naming this field; items that are
    not strings are the schema's (1006)."""
    out: list[Failure] = []
    label = f"the {field.format} custom field {field.name!r}"
    if not value:
        out.append(kw.failure(Code.EMPTY_VALUE, path, value,
                              f"Value cannot be empty: {label} needs a value", CUSTOM_FIELDS))
        return out
    if field.single and len(value) != 1:
        out.append(Failure(Code.WRONG_COUNT, path, value,
                           f"Expected exactly 1 value for {label}, got {len(value)}",
                           limits={"min": 1, "max": 1}, keyword=CUSTOM_FIELDS))
    choices = field.choices
    allowed = frozenset(choices) if choices is not None else None
    for index, item in enumerate(value):
        if not isinstance(item, str):
            continue
        where = (*path, index)
        if not item or item.isspace():
            out.append(kw.failure(Code.EMPTY_VALUE, where, item,
                                  f"Value cannot be {'empty' if not item else 'blank'}: "
                                  f"{label} needs a value", CUSTOM_FIELDS))
        elif allowed is not None:
            if item not in allowed:
                out.append(kw.not_allowed_value(where, item, list(choices or ()),
                                                CUSTOM_FIELDS))
        elif check is not None:
            message = check(item)
            if message is not None:
                out.append(kw.bad_format(where, item, f"{message} ({label} is of type "
                                                      f"{field.type})", CUSTOM_FIELDS))
    return out


class _FieldRules:
    """A `customFieldValues` item's rule, built once from the keyword's value."""

    def __init__(self, rule: dict[str, Any]) -> None:
        region = rule.get("phoneRegion")
        self.fields = {ident: _definition(ident, spec) for ident, spec in rule["fields"].items()}
        self.checks = {ident: value_checker(f.type, region) for ident, f in self.fields.items()}

    def failures(self, item: Any, path: Path) -> list[Failure]:
        if not isinstance(item, dict):
            return []
        ident = item.get("customFieldId")
        field = self.fields.get(ident) if isinstance(ident, str) else None
        if field is None:
            if _checked_id(ident):
                return [Failure(Code.RELATED_NOT_FOUND, (*path, "customFieldId"), ident,
                                f"Custom field {ident!r} cannot be found in the account",
                                keyword=CUSTOM_FIELDS)]
            return []
        value = item.get("value")
        if not isinstance(value, list):
            return []  # missing or of the wrong type: the schema says so
        return _value_failures(field, self.checks[ident], value, (*path, "value"))


def custom_fields_node(rule: dict[str, Any]) -> Node:
    rules = _FieldRules(rule)

    def node(value: Any, path: Cell, out: list[Failure]) -> None:
        if value.__class__ is dict:
            out.extend(rules.failures(value, flat(path)))

    return node


def custom_fields_failures(rule: dict[str, Any], item: Any
                           ) -> list[Callable[[Path], Failure]]:
    """The fallback engine's form: each failure once the item's path is known."""
    found = _FieldRules(rule).failures(item, ())

    def placed(failure: Failure) -> Callable[[Path], Failure]:
        def build(path: Path) -> Failure:
            failure.field_name = (*path, *failure.field_name)
            return failure

        return build

    return [placed(f) for f in found]


# Stricter-or-equal translations of one value of a type (read by the quick test and the batch
# precheck); None: they cannot say, and the value goes to the engine (phone: phonenumbers'
# verdict has no pattern; url: the RFC 3986 grammar is left to the engine).

# Not blank, exactly: a character that is not `str.isspace()`, written out rather than as
# `\s` (regex engines differ on it: ECMA-262's leaves out U+0085 and adds U+FEFF).
_SPACES = "".join(sorted({chr(c) for c in range(0x3001) if chr(c).isspace()}))
_QUICK_NOT_BLANK = {"pattern": "[^" + _SPACES.replace("\\", "\\\\").replace("]", "\\]")
                    .replace("^", "\\^").replace("-", "\\-") + "]"}
# Seconds up to 59 exist in every minute (and days up to 28 in every month).
_QUICK_DATE_TIME = (f"^{QUICK_DAY}[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:[.][0-9]+)?"
                    "(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])$")


_QUICK_VALUE: dict[str, Callable[[], dict[str, Any]]] = {
    "string": lambda: _QUICK_NOT_BLANK,
    "number": lambda: {"pattern": "^[+-]?(?:[0-9]+[.]?[0-9]*|[.][0-9]+)(?:[eE][+-]?[0-9]+)?$"},
    "date": lambda: {"pattern": QUICK_DATE},
    "datetime": lambda: {"pattern": _QUICK_DATE_TIME},
    "ip": lambda: {"pattern": QUICK_IP},
    "country": lambda: {"enum": sorted(_codes("country"))},
    "currency": lambda: {"enum": sorted(_codes("currency"))},
    "gender": lambda: {"enum": list(GENDERS)},
}


def _quick_field(field: CustomField) -> dict[str, Any] | bool:
    choices = field.choices
    if choices is not None:
        item: dict[str, Any] | None = {"enum": [v for v in choices if v and not v.isspace()]}
    else:
        translate = _QUICK_VALUE.get(field.type)
        item = translate() if translate is not None else None
    if item is None:
        return False
    value: dict[str, Any] = {"type": "array", "minItems": 1,
                             "items": {"type": "string", **item}}
    if field.single:
        value["maxItems"] = 1
    return {"type": "object", "required": ["customFieldId", "value"],
            "properties": {"customFieldId": {"const": field.field_id}, "value": value}}


def custom_fields_quick(rule: dict[str, Any]) -> dict[str, Any]:
    branches = [_quick_field(_definition(ident, spec)) for ident, spec in rule["fields"].items()]
    branches = [b for b in branches if b is not False]
    # No field the quick test can vouch for: every item goes to the engine.
    return {"anyOf": branches} if branches else {"not": {}}


def check_custom_fields_rule(rule: Any) -> str | None:
    problem = f"expected {{'fields': {{id: {{name, type, format, values}}}}}}, got {rule!r}"
    if not isinstance(rule, dict) or not isinstance(rule.get("fields"), dict):
        return problem[:200]
    for spec in rule["fields"].values():
        if not isinstance(spec, dict) or not {"name", "type", "format", "values"} <= spec.keys():
            return problem[:200]
    return None
