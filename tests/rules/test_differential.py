"""The compiled engine against the reference implementations, on generated payloads:
its verdict equals jsonschema's, and its failures equal those of the jsonschema-backed
fallback engine (same codes, same paths), so the fast path changes nothing but speed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import FormatChecker, ValidationError
from jsonschema.validators import Draft202012Validator, extend

from validator import ValidationOptions as Options
from validator import Validator, default_registry
from validator.rules._dialect import FORMATS
from validator.rules._fallback import FallbackEngine

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 300), st.floats(allow_nan=False, width=32),
    st.sampled_from(["", " ", "C", "pV3r", "john@example.com", "a@b", "1.2.3.4", "::1", "42",
                     "true", "single", "double", "radio", "text", "x" * 129, "my_tag", "é😀"]),
    st.text(max_size=8),
)
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["tagId", "customFieldId", "value", "campaignId", "x"]),
                    inner, max_size=3)), max_leaves=8)

CONTACT = {"email": "john.doe@example.com", "campaign": {"campaignId": "C"}, "name": "John",
           "dayOfCycle": "42", "scoring": 8, "ipAddress": "1.2.3.4",
           "tags": [{"tagId": "m7E2"}], "customFieldValues": [{"customFieldId": "kL6Nh",
                                                               "value": ["18-35"]}]}
FIELDS = ["email", "campaign", "name", "dayOfCycle", "scoring", "ipAddress", "tags",
          "customFieldValues", "note", "extra"]


@st.composite
def mutated_contacts(draw: st.DrawFn) -> dict[str, Any]:
    contact = dict(CONTACT)
    for field in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        if draw(st.booleans()):
            contact.pop(field, None)
        else:
            contact[field] = draw(JSON)
    return contact


def _not_blank(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
    # The one engine keyword (besides `mx`, off here) of the schemas compared: written out
    # again from the README, so that the reference does not lean on the engine's table.
    if value is True and isinstance(instance, str) and instance.strip() == "" and instance:
        yield ValidationError("blank")


_Reference = extend(Draft202012Validator, {"notBlank": _not_blank})


def _reference(name: str, formats: bool) -> Any:
    schema, _ = default_registry().get(name)
    checker = None
    if formats:
        checker = FormatChecker()
        for fmt, entry in FORMATS.items():
            checker.checks(fmt)(lambda v, c=entry.check: not isinstance(v, str) or c(v) is None)
    return _Reference(schema, registry=default_registry().resources(), format_checker=checker)


def _fallback(name: str) -> FallbackEngine:
    schema, _ = default_registry().get(name)
    return FallbackEngine(schema, default_registry().resources(), Options())


SCHEMAS = ["contacts.create", "contacts.update", "contacts.upsert-tags",
           "contacts.upsert-custom-fields"]


@pytest.mark.parametrize("name", SCHEMAS)
@pytest.mark.parametrize("formats", [True, False])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=mutated_contacts())
def test_verdict_equals_jsonschema(name: str, formats: bool, payload: dict[str, Any]) -> None:
    ours = Validator(name, assert_formats=formats).validate(payload)
    assert ours.ok == _reference(name, formats).is_valid(payload)


@pytest.mark.parametrize("name", SCHEMAS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=mutated_contacts())
def test_failures_equal_the_fallback_engines(name: str, payload: dict[str, Any]) -> None:
    ours = Validator(name).validate(payload)
    theirs = _fallback(name).failures(payload)
    # The compiler reports a value of the wrong type once; jsonschema may add rules the
    # value also breaks. Every (path, code) we report, the fallback reports too, and every
    # path the fallback flags, we flag.
    ours_pairs = {(f.field_name, f.code) for f in ours.failures}
    theirs_pairs = {(f.field_name, f.code) for f in theirs}
    assert ours_pairs <= theirs_pairs
    assert {p for p, _ in ours_pairs} == {p for p, _ in theirs_pairs}


@settings(max_examples=300, deadline=None)
@given(payload=JSON)
def test_any_json_against_custom_fields_schema(payload: Any) -> None:
    ours = Validator("custom-fields.create").validate(payload if not isinstance(payload, str)
                                                      else f'"{payload}"'.encode())
    if not isinstance(payload, str):
        assert ours.ok == _reference("custom-fields.create", True).is_valid(payload)
    assert ours.ok == (ours.error is None)


LEAVES = [
    {"type": "string", "minLength": 2, "maxLength": 5, "notBlank": True},
    {"type": ["string", "null"], "pattern": "^[a-z ]+$"},
    {"type": "string", "format": "resource-id", "notBlank": True},
    {"type": "string", "enum": ["ab", "a b", "AB"]},
    {"type": "string", "const": "ab"},
    {"type": "string", "reservedWords": ["Name", "ab"]},
    {"type": "string", "forbiddenWords": ["spam", "b"], "forbiddenCharacters": "/@A",
     "noEmoji": True},
    {"type": ["number", "null"]},
    {"type": ["boolean", "string"]},
    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["b"]},
    {"type": "array", "items": {"type": "string", "maxLength": 1}},
]
LEAF_VALUES = st.one_of(
    JSON, st.text(alphabet="abAB /@😀 \t", max_size=6),
    st.sampled_from(["spam", "a spam b", "ab", "AB", "NAME", "  ", "a😀", "Ab/"]),
)


@pytest.mark.parametrize("index", range(len(LEAVES)))
@settings(max_examples=300, deadline=None)
@given(value=LEAF_VALUES)
def test_fast_paths_agree_with_the_fallback_engine(index: int, value: Any) -> None:
    """The one-closure fast paths accept exactly what the full rules accept."""
    schema = {"type": "object", "properties": {"v": LEAVES[index]}}
    ours = Validator(schema).validate({"v": value})
    theirs = FallbackEngine(schema, default_registry().resources(), Options()).failures(
        {"v": value})
    assert ours.ok == (not theirs)
    assert {f.field_name for f in ours.failures} == {f.field_name for f in theirs}
