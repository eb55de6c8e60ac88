"""The user's account as context: its campaigns, tags and custom fields, as the API's own list
responses (`GET /v3/campaigns`, `/v3/tags`, `/v3/custom-fields`) give them.

An `Account` is data, checked once when it is built: a campaign without a `campaignId`, a
custom field of a type the API does not have, a file that is not JSON — each is an
`AccountError` naming the file and the item. What the rules make of it (1001 for unknown
references, custom-field values by their definition) lives in `validator.rules`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import orjson

from ._exceptions import ValidatorError

__all__ = ["CUSTOM_FIELD_FORMATS", "CUSTOM_FIELD_TYPES", "Account", "AccountError",
           "CustomField", "NameIndex",
           "resolve_name"]

CUSTOM_FIELD_TYPES = ("string", "number", "date", "datetime", "country", "currency", "phone",
                      "gender", "ip", "url")
"""A custom field's `type` (the official document's `CustomFieldTypeEnum`)."""
CUSTOM_FIELD_FORMATS = ("text", "textarea", "radio", "checkbox", "single_select",
                        "multi_select")
"""A custom field's `format` (`CustomFieldFormatEnum`)."""
SINGLE_VALUE_FORMATS = frozenset({"text", "textarea", "radio", "single_select"})
"""Formats that hold exactly one value; the others (checkbox, multi_select) hold one or more."""
CHOICE_FORMATS = frozenset({"radio", "single_select", "multi_select"})
"""Formats whose values must be among the field's `values`; so must a checkbox's, when it
lists any."""

KEYS = {"campaigns": "campaigns.json", "customFields": "custom-fields.json",
        "tags": "tags.json"}
"""The keys of an account file, and the file of each in an account folder."""


class AccountError(ValidatorError, ValueError):
    """Account data that cannot be used: an unreadable file, JSON of the wrong shape, an item
    without its ID or with a type the API does not have. The message names the file and the
    item."""


@dataclass(frozen=True, slots=True)
class CustomField:
    """One custom field's definition, as `GET /v3/custom-fields` lists it."""

    field_id: str
    name: str
    type: str
    format: str
    values: tuple[str, ...] = ()

    @property
    def single(self) -> bool:
        """Whether the field holds exactly one value."""
        return self.format in SINGLE_VALUE_FORMATS

    @property
    def choices(self) -> tuple[str, ...] | None:
        """The values a value must be one of, or None when any value of its type will do."""
        if self.format in CHOICE_FORMATS or (self.format == "checkbox" and self.values):
            return self.values
        return None


def _type_and_format(item: Mapping[str, Any]) -> tuple[Any, Any]:
    """A field's value type and format. The official document keeps them apart (`type`
    phone, `format` text); the simplified one, and older answers, put the format in `type`
    (`single_select`) with the value type in `valueType`, or a type in `format` (`phone`).
    Both readings are taken; anything else is left for the caller to refuse."""
    kind = item.get("type")
    fmt = item.get("format", item.get("fieldType"))
    named = None
    if kind not in CUSTOM_FIELD_TYPES and kind in CUSTOM_FIELD_FORMATS:
        named = kind
        value_type = item.get("valueType")
        kind = value_type if value_type in CUSTOM_FIELD_TYPES else "string"
    if fmt not in CUSTOM_FIELD_FORMATS and (fmt is None or fmt in CUSTOM_FIELD_TYPES):
        fmt = named or "text"
    return kind, fmt


def _is_id(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and bool(value) and not value.isspace()


class Account:
    """The campaigns, tags and custom fields of one account.

    Each argument is the list of items of its list response (dicts with `campaignId`,
    `tagId`, or `customFieldId`, `name`, `type`, `format` and `values`), or None when that kind
    is not known: only the kinds given are checked. `source` names the data in error
    messages. `Account.load(path)` reads an account file or folder."""

    __slots__ = ("_by_name", "_campaigns", "_custom_fields", "_fingerprint", "_folder",
                 "_named_copy", "_raw", "_tags", "source")

    def __init__(self, *, campaigns: Iterable[Mapping[str, Any]] | None = None,
                 custom_fields: Iterable[Mapping[str, Any]] | None = None,
                 tags: Iterable[Mapping[str, Any]] | None = None,
                 source: str = "the account data", _folder: bool = False,
                 _by_name: bool = False) -> None:
        self.source = source
        self._folder = _folder
        self._by_name = _by_name
        self._named_copy: Account | None = None
        raw: dict[str, list[Any]] = {}
        self._campaigns = self._names(campaigns, "campaigns", "campaignId", raw)
        self._tags = self._names(tags, "tags", "tagId", raw)
        self._custom_fields = None if custom_fields is None else self._fields(custom_fields,
                                                                              raw)
        self._raw = raw
        self._fingerprint = hashlib.sha256(
            orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
            + (b"\x00by-name" if _by_name else b"")).hexdigest()

    # -- building ------------------------------------------------------------------------

    def _where(self, key: str) -> str:
        """Where a kind's items come from, for messages: the folder's file, or the key."""
        return f"{self.source}/{KEYS[key]}" if self._folder else f"{self.source}: {key}"

    def _items(self, items: Iterable[Any], key: str, raw: dict[str, list[Any]]
               ) -> list[Mapping[str, Any]]:
        if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
            raise AccountError(f"{self._where(key)} must be a list of items, as "
                               f"GET /v3/{KEYS[key].removesuffix('.json')} returns it")
        items = list(items)
        for number, item in enumerate(items, 1):
            if not isinstance(item, Mapping):
                raise AccountError(f"{self._where(key)} item {number} is not an object "
                                   f"({_show(item)})")
        raw[key] = [dict(item) for item in items]
        return items

    def _names(self, items: Iterable[Any] | None, key: str, id_key: str,
               raw: dict[str, list[Any]]) -> dict[str, str | None] | None:
        """ID → name; None when the kind is not given."""
        if items is None:
            return None
        found: dict[str, str | None] = {}
        for number, item in enumerate(self._items(items, key, raw), 1):
            ident = item.get(id_key)
            if not _is_id(ident):
                raise AccountError(f"{self._where(key)} item {number} has no {id_key} "
                                   f"(a non-empty string), got {_show(ident)}")
            name = item.get("name")
            found[ident] = name if isinstance(name, str) else None
        return found

    def _fields(self, items: Iterable[Any], raw: dict[str, list[Any]]
                ) -> dict[str, CustomField]:
        found: dict[str, CustomField] = {}
        for number, item in enumerate(self._items(items, "customFields", raw), 1):
            ident = item.get("customFieldId")
            where = f"{self._where('customFields')} item {number}"
            if not _is_id(ident):
                raise AccountError(f"{where} has no customFieldId (a non-empty string), got "
                                   f"{_show(ident)}")
            where += f" ({ident})"
            if ident in found:
                raise AccountError(f"{where} repeats a customFieldId of an earlier item")
            kind, fmt = _type_and_format(item)
            if kind not in CUSTOM_FIELD_TYPES:
                raise AccountError(f"{where} has type {_show(kind)}; expected one of "
                                   f"{', '.join(CUSTOM_FIELD_TYPES)}")
            if fmt not in CUSTOM_FIELD_FORMATS:
                raise AccountError(f"{where} has format {_show(fmt)}; expected one of "
                                   f"{', '.join(CUSTOM_FIELD_FORMATS)}")
            values = item.get("values", [])
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise AccountError(f"{where} has values {_show(values)}; expected a list of "
                                   "strings")
            name = item.get("name")
            found[ident] = CustomField(ident, name if isinstance(name, str) else ident, kind,
                                       fmt, tuple(values))
        return found

    @classmethod
    def load(cls, path: str | Path) -> Account:
        """Read an account file (a JSON object with any of the keys `campaigns`,
        `customFields`, `tags`, each the items of its list response) or an account folder
        (`campaigns.json`, `custom-fields.json`, `tags.json`, each a list response; a missing
        file is a kind not given)."""
        path = Path(path)
        if path.is_dir():
            lists: dict[str, Any] = {}
            for key, name in KEYS.items():
                if (path / name).exists():
                    lists[key] = _read(path / name)
            if not lists:
                raise AccountError(f"account folder {path} holds none of "
                                   f"{', '.join(KEYS.values())}")
            return cls._from_lists(lists, str(path), folder=True)
        data = _read(path)
        if not isinstance(data, dict):
            raise AccountError(f"account file {path} must hold a JSON object with the keys "
                               f"{', '.join(KEYS)}, got {_show(data)}")
        unknown = sorted(set(data) - set(KEYS))
        if unknown:
            raise AccountError(f"account file {path} has the unknown key {unknown[0]!r}; its "
                               f"keys are {', '.join(KEYS)}")
        return cls._from_lists(data, str(path))

    @classmethod
    def _from_lists(cls, lists: Mapping[str, Any], source: str, folder: bool = False
                    ) -> Account:
        def of(key: str) -> Any:
            value = lists.get(key)
            if value is not None and not isinstance(value, list):
                where = f"{source}/{KEYS[key]}" if folder else f"{source}: {key}"
                raise AccountError(f"{where} must be a list of items, as GET "
                                   f"/v3/{KEYS[key].removesuffix('.json')} returns it, got "
                                   f"{_show(value)}")
            return value

        return cls(campaigns=of("campaigns"), custom_fields=of("customFields"),
                   tags=of("tags"), source=source, _folder=folder)

    # -- reading -------------------------------------------------------------------------

    @property
    def campaigns(self) -> frozenset[str] | None:
        """The campaign IDs, or None when campaigns are not known."""
        return None if self._campaigns is None else frozenset(self._campaigns)

    @property
    def tags(self) -> frozenset[str] | None:
        """The tag IDs, or None when tags are not known."""
        return None if self._tags is None else frozenset(self._tags)

    @property
    def custom_fields(self) -> Mapping[str, CustomField] | None:
        """Custom field ID → definition, or None when custom fields are not known."""
        return None if self._custom_fields is None else dict(self._custom_fields)

    def custom_field_named(self, name: str) -> CustomField | None:
        """The custom field of this name (or ID)."""
        fields = self._custom_fields or {}
        if name in fields:
            return fields[name]
        return next((f for f in fields.values() if f.name == name), None)

    def campaign_named(self, name: str) -> str | tuple[str, ...] | None:
        """The ID of the campaign of this name or ID (`resolve_name`)."""
        return resolve_name(self.id_names("campaign") or (), name)

    def tag_named(self, name: str) -> str | tuple[str, ...] | None:
        """The ID of the tag of this name or ID (`resolve_name`)."""
        return resolve_name(self.id_names("tag") or (), name)

    def id_names(self, kind: str) -> tuple[tuple[str, str | None], ...] | None:
        """(ID, name) of each campaign (``kind`` "campaign") or tag ("tag"), in the order
        given; None when that kind is not known."""
        table = self._campaigns if kind == "campaign" else self._tags
        return None if table is None else tuple(table.items())

    @property
    def by_name(self) -> bool:
        """Whether campaign and tag cells may hold names (`taking_names`)."""
        return self._by_name

    def taking_names(self) -> Account:
        """The same account for a batch run whose campaign and tag columns may hold names
        (mapped to IDs as they are read): a campaign or tag value that is not one of the
        account's IDs is then 1001 however it is written, or 1003 where it names several.
        The API itself takes IDs only, so `validate()` keeps to them."""
        if self._by_name:
            return self
        if self._named_copy is None:
            self._named_copy = _rebuild(self._raw, self.source, self._folder, True)
        return self._named_copy

    @property
    def fingerprint(self) -> str:
        """A digest of the data: equal for equal data, so compiled rules are shared."""
        return self._fingerprint

    def to_dict(self) -> dict[str, list[Any]]:
        """The account file's content: the items as given, under the kinds given."""
        return {key: [dict(item) for item in items] for key, items in self._raw.items()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Account) and other._fingerprint == self._fingerprint

    def __hash__(self) -> int:
        return hash(self._fingerprint)

    def __repr__(self) -> str:
        counts = ", ".join(f"{len(v)} {k}" for k, v in self._raw.items())
        return f"Account({counts or 'nothing'}; from {self.source})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its items in a worker process, where it is checked again (cheaply).
        return _rebuild, (self._raw, self.source, self._folder, self._by_name)


def _rebuild(raw: dict[str, list[Any]], source: str, folder: bool, by_name: bool = False
             ) -> Account:
    return Account(campaigns=raw.get("campaigns"), custom_fields=raw.get("customFields"),
                   tags=raw.get("tags"), source=source, _folder=folder, _by_name=by_name)


class NameIndex:
    """What campaign or tag cells stand for, among (ID, name) items: an ID of the items is
    itself; otherwise the ID of the one item of exactly that name, then of the one item of
    that name in another case (``casefold``: "Promo" finds "promo"). Several items of the
    name (at the first of those two steps that finds any): their IDs, for the caller to
    refuse. None: no item has that ID or name.

    The one place names become IDs: the plan's converters and the engine's rule both ask it,
    so the row path, the columnar precheck and the rule cannot disagree."""

    __slots__ = ("_exact", "_folded", "_ids")

    def __init__(self, items: Iterable[tuple[str, str | None]] | Iterable[list[Any]]) -> None:
        self._ids: set[str] = set()
        self._exact: dict[str, list[str]] = {}
        self._folded: dict[str, list[str]] = {}
        for ident, name in items:
            self._ids.add(ident)
            if isinstance(name, str):
                self._exact.setdefault(name, []).append(ident)
                self._folded.setdefault(name.casefold(), []).append(ident)

    def resolve(self, text: str) -> str | tuple[str, ...] | None:
        if text in self._ids:
            return text
        found = self._exact.get(text) or self._folded.get(text.casefold())
        if not found:
            return None
        return found[0] if len(found) == 1 else tuple(found)


def resolve_name(items: Iterable[tuple[str, str | None]] | Iterable[list[Any]], text: str
                 ) -> str | tuple[str, ...] | None:
    """``NameIndex(items).resolve(text)``, for one look-up."""
    return NameIndex(items).resolve(text)


def _read(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except OSError as exc:
        raise AccountError(f"cannot read account file {path}: "
                           f"{exc.strerror or exc}") from exc
    except orjson.JSONDecodeError as exc:
        raise AccountError(f"account file {path} is not JSON: {exc}") from exc


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
