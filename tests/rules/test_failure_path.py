"""The engine's failure path against the jsonschema-based reference, on randomised invalid
payloads for every shipped body schema.

The compiled engine takes shortcuts to build error bodies fast: failures come out of the walk
already in payload order (the sort is skipped where the schema allows it), the keyword builders
and the aggregation are tuned. The reference is the fallback engine (jsonschema's
`iter_errors`, the same keyword builders) followed by the sort and the aggregation as
`_aggregate` defines them. jsonschema may report more than the engine (every rule a value of
the wrong type also breaks), so every context entry the engine writes must be one the reference
writes, in the same order; when they report the same failures, the bodies are byte-identical.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from validator import ValidationOptions, Validator, default_registry
from validator._aggregate import aggregate, order
from validator._catalog import DEFAULT_CATALOG
from validator._results import dumps
from validator.rules._fallback import FallbackEngine

BODY_SCHEMAS = [name for name in default_registry().names() if not name.endswith(".query")]
# Values that break something somewhere: wrong types, empties, blanks, too long, bad formats.
JUNK: list[Any] = [None, True, False, 0, -1, 3.5, 10**20, "", " ", "\t", "x" * 300, "a@b",
                   "john..doe@example-mail", "1.2.3.999", "::1", "é😀", "42", "C", "4x2", [],
                   {}, ["x"], [1, 1], {"x": 1}, {"tagId": ""}]


def invalid_payload(schema: Any, rnd: random.Random, depth: int = 0) -> Any:
    """A payload shaped by the schema, its keys shuffled and some left out, its values drawn
    from the schema's own examples and enums and from `JUNK`."""
    if not isinstance(schema, dict) or depth > 5 or rnd.random() < 0.15:
        return rnd.choice(JUNK)
    if schema.get("examples") and rnd.random() < 0.5:
        return rnd.choice(schema["examples"])
    if schema.get("enum") and rnd.random() < 0.5:
        return rnd.choice(schema["enum"])
    properties = schema.get("properties")
    if properties:
        names = [*properties, "unknownField"]
        rnd.shuffle(names)
        return {name: invalid_payload(properties.get(name), rnd, depth + 1)
                for name in names if rnd.random() < 0.75}
    if "items" in schema:
        return [invalid_payload(schema["items"], rnd, depth + 1)
                for _ in range(rnd.randint(0, 3))]
    return rnd.choice(JUNK)


def _body(error: Any) -> bytes:
    body = error.to_dict()
    del body["uuid"]
    return dumps(body)


_validators: dict[str, tuple[Validator, FallbackEngine]] = {}


def _engines(name: str) -> tuple[Validator, FallbackEngine]:
    if name not in _validators:
        schema, _ = default_registry().get(name)
        _validators[name] = (Validator(name), FallbackEngine(
            schema, default_registry().resources(), ValidationOptions()))
    return _validators[name]


@pytest.mark.parametrize("name", BODY_SCHEMAS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rnd=st.randoms(use_true_random=False))
def test_bodies_match_the_jsonschema_reference(name: str, rnd: random.Random) -> None:
    validator, fallback = _engines(name)
    schema = validator.schema
    payload = invalid_payload(schema, rnd)
    if not isinstance(payload, dict):
        payload = {"unknownField": payload}
    ours = validator.validate(payload)
    reference = order(fallback.failures(payload), payload)
    if ours.ok:
        assert reference == []
        return
    assert ours.error is not None
    # Whatever shortcut the engine took, its failures are already in the reference order.
    assert list(ours.failures) == order(ours.failures, payload)
    mine = [dumps(entry) for entry in ours.error.context]
    theirs = iter([dumps(f.to_context()) for f in reference])
    assert all(entry in theirs for entry in mine), "not a subsequence of the reference"
    if len(mine) == len(reference):
        expected = aggregate(reference, DEFAULT_CATALOG)
        assert _body(ours.error) == _body(expected)
    # The batch path (validate_many, MX off) builds the same body.
    many = validator.validate_many([payload], plain=True)[0]
    assert many.error is not None and _body(many.error) == _body(ours.error)


def test_the_reference_comparison_is_not_vacuous() -> None:
    """Most generated payloads are invalid, and most bodies equal the reference's whole."""
    rnd = random.Random(7)
    invalid = identical = 0
    for name in BODY_SCHEMAS:
        validator, fallback = _engines(name)
        for _ in range(20):
            payload = invalid_payload(validator.schema, rnd)
            if not isinstance(payload, dict):
                continue
            result = validator.validate(payload)
            if result.error is None:
                continue
            invalid += 1
            reference = order(fallback.failures(payload), payload)
            identical += _body(result.error) == _body(aggregate(reference, DEFAULT_CATALOG))
    assert invalid > 10 * len(BODY_SCHEMAS)
    assert identical > invalid * 0.6


OUT_OF_ORDER = [
    {"type": "object", "properties": {"a": {"type": "string"}},
     "allOf": [{"properties": {"b": {"type": "string"}}}]},
    {"type": "object", "patternProperties": {"^a": {"type": "string"}}},
    {"type": "array", "items": {"type": "string"}, "contains": {"const": "x"}},
    {"type": "object", "properties": {"a": {"type": "string"}},
     "if": {"required": ["a"]}, "then": {"required": ["b"]}},
    {"$defs": {"s": {"type": "string"}}, "type": "object", "$ref": "#/$defs/s"},
]
IN_ORDER = [
    {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
     "required": ["c", "a"], "dependentRequired": {"a": ["d"]}, "minProperties": 5},
    {"$defs": {"o": {"type": "object", "properties": {"a": {"type": "string"}}}},
     "$ref": "#/$defs/o"},
    {"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "integer"},
     "minItems": 4, "uniqueItems": True},
]


@pytest.mark.parametrize("schema", OUT_OF_ORDER)
def test_rules_that_report_after_the_walk_keep_the_sort(schema: dict[str, Any]) -> None:
    assert Validator(schema)._in_order is False


SHUFFLED = st.recursive(
    st.sampled_from(JUNK[:8]),
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(st.sampled_from("abcd"), inner, max_size=4)),
    max_leaves=10)


@pytest.mark.parametrize("index", range(len(IN_ORDER)))
@settings(max_examples=150, deadline=None)
@given(payload=SHUFFLED)
def test_schemas_in_walk_order_need_no_sort(index: int, payload: Any) -> None:
    validator = Validator(IN_ORDER[index])
    assert validator._in_order is True
    failures = list(validator.validate(payload).failures)
    assert failures == order(failures, payload)
