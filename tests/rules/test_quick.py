"""The quick test in front of the engine (validator/_quick.py): whenever it says "valid", the
engine agrees; where it cannot promise that, it is not built."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from referencing.jsonschema import DRAFT202012

from validator import Validator, default_registry
from validator.rules import values_at
from validator.rules._dialect import QUICK_EMAIL as _EMAIL
from validator.rules._dialect import QUICK_IPV4 as _IPV4
from validator.rules._dialect import QUICK_SPECIAL_USE as _SPECIAL_USE
from validator.rules._email import email_syntax_error
from validator.rules._mx_paths import EVERY_ITEM, MXPaths, mx_paths
from validator.rules._quick import quick_check, translate
from validator.rules._schema_view import SchemaView

pytest.importorskip("jsonschema_rs")

BODIES = sorted(name for name in default_registry().names() if not name.endswith(".query"))


def _engine_verdict(schema: Any, payload: Any) -> bool:
    """The engine alone, the quick test switched off."""
    validator = Validator(schema)
    validator._quick = None
    return validator.validate(payload).ok


def test_the_quick_test_is_built_for_the_contact_schemas() -> None:
    # If a change made the translation give up, every payload would silently take the slow
    # path; this fails instead.
    for name in ("contacts.create", "contacts.update", "contacts.upsert-tags", "tags.create",
                 "contacts.list.query"):
        assert Validator(name)._quick is not None, name
    # With MX checks it stands in for the engine only where the addresses sit at paths the
    # MX walker names exactly, array items included.
    with_mx = Validator("contacts.create", check_mx=True)
    assert with_mx._quick is not None and with_mx.mx_paths == (("email",),)
    batch = Validator("contacts.create-batch", check_mx=True)
    assert batch._quick is not None
    assert batch.mx_paths == (("contacts", EVERY_ITEM, "email"),)
    # A schema whose `mx` rule sits where no path can name it exactly gets none.
    assert Validator({"anyOf": [{"properties": {"email": {"mx": True}}}]},
                     check_mx=True)._quick is None


@settings(max_examples=300, deadline=None, database=None)
@given(st.from_regex(re.compile(_EMAIL), fullmatch=True))
def test_every_address_the_quick_pattern_takes_is_valid_for_email_validator(
        address: str) -> None:
    if len(address) > 254 or re.search(_SPECIAL_USE, address):
        return
    assert email_syntax_error(address) is None, address


@pytest.mark.parametrize("address", [
    "a@x.test", "a@x.TEST", "a@b.Local", "a@b.arpa", "a@localhost", "a@ab--cd.com",
    "a@b.c0m", "ü@b.com", ".a@b.com", "a..b@b.com", "a@" + "b" * 64 + ".com"])
def test_addresses_the_quick_test_leaves_to_email_validator(address: str) -> None:
    quick = quick_check({"type": "string", "format": "email"})
    assert quick is not None and not quick(address, True)


@settings(max_examples=200, deadline=None, database=None)
@given(st.from_regex(re.compile(_IPV4), fullmatch=True))
def test_every_ipv4_the_quick_pattern_takes_is_an_ip(address: str) -> None:
    import ipaddress

    assert str(ipaddress.IPv4Address(address)) == address


_TRICKY_STRINGS = [
    "", " ", "\t", "\u00a0", "\u2003x", "\x1c", "a", "Ab9", "李", "-", "John Doe",
    "john@example.com", "john@EXAMPLE.COM", "a@b.c", "a@b.co", "a@localhost", "a@x.test",
    "a@x.local", "a@xn--p1ai.ru", "a@ab--cd.com", "a@-ab.com", "a@ab.c0m", ".a@b.com",
    "a..b@c.com", "a@b.com.", "ü@b.com", "a@" + "b" * 64 + ".com", "x" * 300 + "@b.com",
    "1.2.3.4", "01.2.3.4", "256.1.1.1", "::1", "fe80::1%eth0", "pV3r", "x" * 65,
    "name", "email", "Campaign/1", "Cool 😀", "+48123456789", "2024-07-14T07:00:00",
    "https://example.com", "true", "false", "18-35",
]
_VALUES = st.one_of(
    st.sampled_from(_TRICKY_STRINGS), st.text(max_size=12), st.none(), st.booleans(),
    st.integers(-3, 3000), st.floats(allow_nan=True), st.just([]), st.just({}),
    st.lists(st.sampled_from(_TRICKY_STRINGS), max_size=3),
    st.lists(st.fixed_dictionaries({}, optional={
        "tagId": st.sampled_from(_TRICKY_STRINGS), "customFieldId": st.sampled_from(
            _TRICKY_STRINGS), "value": st.lists(st.sampled_from(_TRICKY_STRINGS), max_size=2),
        "fromFieldId": st.sampled_from(_TRICKY_STRINGS)}), max_size=2),
)


def _shape(schema: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Payloads near a schema: its declared properties (some left out) with tricky values,
    nested objects following the schema, so that most draws are close to valid."""
    if depth > 4 or not isinstance(schema, dict):
        return _VALUES
    properties = schema.get("properties")
    if isinstance(properties, dict) and properties:
        return st.fixed_dictionaries({}, optional={
            name: st.one_of(_shape(sub, depth + 1), _VALUES)
            for name, sub in properties.items()})
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        return st.lists(_shape(schema["items"], depth + 1), max_size=2)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return st.one_of(st.sampled_from(enum), _VALUES)
    return _VALUES


@pytest.mark.parametrize("name", BODIES)
def test_quick_valid_means_engine_valid(name: str) -> None:
    schema, _ = default_registry().get(name)
    quick = quick_check(schema)
    if quick is None:
        pytest.skip(f"no quick test for {name} (it needs a rule the translation cannot take)")
    agreed = {"valid": 0}

    @settings(max_examples=250, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(_shape(schema))
    def check(payload: Any) -> None:
        if quick(payload, False):
            assert _engine_verdict(schema, payload), payload
            agreed["valid"] += 1

    check()


@pytest.mark.parametrize(("schema", "built"), [
    ({"type": "string", "format": "email"}, True),
    ({"not": {"format": "email"}}, False),           # stricter under `not` would widen
    ({"if": {"format": "email"}, "then": {"minLength": 3}}, False),
    ({"oneOf": [{"format": "email"}, {"type": "string"}]}, False),
    ({"not": {"type": "string"}}, True),              # exact under `not` is fine
    ({"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"}, False),
    ({"$defs": {"a": {"$id": "other", "type": "string"}}, "type": "string"}, False),
    ({"$dynamicRef": "#x"}, False),
    ({"multipleOf": 0.1}, False),
    ({"$ref": "other.json#/x"}, False),
    ({"properties": {"a": {"pattern": "(?i)abc"}}}, True),  # "a" goes to the engine
    ({"properties": {"a": {"oneOf": [{"format": "date"}, {"type": "integer"}]}}}, True),
    ({"type": "string", "reservedWords": ["x"]}, False),  # the root itself would go there
])
def test_what_the_translation_refuses(schema: dict[str, Any], built: bool) -> None:
    assert (quick_check(schema) is not None) is built


def test_rules_it_cannot_read_send_their_values_to_the_engine() -> None:
    schema = {"type": "object", "properties": {
        "name": {"type": "string", "reservedWords": ["email"]},
        "code": {"type": "string", "pattern": "^\\d+$"},
        "when": {"type": "string", "format": "date-time"}}}
    quick = quick_check(schema)
    assert quick is not None
    assert quick({}, True)
    for payload in ({"name": "x"}, {"code": "12"}, {"when": "2024-01-01T10:00:00Z"}):
        assert not quick(payload, True)
        assert Validator(schema).validate(payload).ok  # the engine still says valid
    assert not Validator(schema).validate({"name": "EMAIL"}).ok


def test_ip_ipv6_and_date_translations_are_subsets_of_the_engines_formats() -> None:
    import random

    rnd = random.Random(11)
    def schema(name: str) -> dict[str, Any]:
        return {"properties": {"v": {"type": "string", "format": name}}}

    schemas = {name: quick_check(schema(name)) for name in ("ip", "ipv6", "date")}
    engines = {name: Validator(schema(name)) for name in schemas}
    candidates = ["::", "::1", "1::", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::", "fe80::1%eth0",
                  "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8:9", "1.2.3.4", "2024-02-28", "2024-02-29",
                  "2023-02-29", "0000-01-01", "2024-13-01", "١٢٣٤-01-01"]
    for _ in range(20_000):
        groups = [format(rnd.randrange(65536), "x") for _ in range(rnd.randint(1, 9))]
        text = ":".join(groups)
        if rnd.random() < 0.6:
            cut = rnd.randint(0, len(text))
            text = text[:cut] + "::" + text[cut:]
        candidates.append(text)
        candidates.append(f"{rnd.randint(0, 9999):04d}-{rnd.randint(0, 13):02d}-"
                          f"{rnd.randint(0, 32):02d}")
    accepted = dict.fromkeys(schemas, 0)
    for text in candidates:
        for name, quick in schemas.items():
            assert quick is not None
            if quick({"v": text}, True):
                accepted[name] += 1
                assert engines[name].validate({"v": text}).ok, (name, text)
    assert min(accepted.values()) > 1000  # the translations let many values through
    assert schemas["ip"] is not None and schemas["ip"]({"v": "2001:db8::8a2e:370:7334"}, True)


def test_formats_follow_the_validators_options() -> None:
    schema = {"type": "string", "format": "email"}
    assert translate(schema, assert_formats=False) == {"type": "string"}
    mine = quick_check({"properties": {"a": schema}}, custom_formats=frozenset({"email"}))
    assert mine is not None and not mine({"a": "john@example.com"}, True)
    validator = Validator(schema, formats={"email": lambda v: "never"})
    assert not validator.validate("john@example.com").ok


def test_payloads_that_are_not_plain_json_go_to_the_engine() -> None:
    from decimal import Decimal

    quick = quick_check({"type": "object", "properties": {"n": {"type": "number"},
                                                          "l": {"type": "array"}}})
    assert quick is not None
    assert quick({"n": 1.5, "l": []}, False)
    # jsonschema-rs would take these for a number and an array: the engine judges them.
    for odd in ({"n": Decimal("1.5")}, {"l": ("x",)}, {1: "a"}, {"a": object()}):
        assert not quick(odd, False)
        validator = Validator({"type": "object", "properties": {"n": {"type": "number"},
                                                                "l": {"type": "array"}}})
        assert validator.validate(odd).ok == _engine_verdict(validator.schema, odd)


def _mx_paths(schema: Any) -> MXPaths:
    uri = "urn:test:mx-paths"
    resources = default_registry().resources().with_resource(
        uri, DRAFT202012.create_resource(schema))
    return mx_paths(SchemaView(schema, uri, resources))


def test_mx_paths_are_property_chains_array_items_and_references() -> None:
    assert _mx_paths({"properties": {"email": {"mx": True},
                                     "boss": {"properties": {"email": {"mx": True}}}}}) == \
        MXPaths((("email",), ("boss", "email")), exact=True)
    assert _mx_paths({"properties": {"email": {"type": "string"}}}) == MXPaths((), exact=True)
    # Array items: every item, or one place of a tuple.
    assert _mx_paths({"properties": {"list": {"items": {"mx": True}}}}) == \
        MXPaths((("list", EVERY_ITEM),), exact=True)
    assert _mx_paths({"prefixItems": [{}, {"properties": {"to": {"mx": True}}}]}) == \
        MXPaths(((1, "to"),), exact=True)
    # Local references and allOf apply to the same value, always.
    assert _mx_paths({"$defs": {"addr": {"type": "string", "mx": True}},
                      "properties": {"a": {"$ref": "#/$defs/addr"},
                                     "b": {"allOf": [{"$ref": "#/$defs/addr"}]}}}) == \
        MXPaths((("a",), ("b",)), exact=True)
    # The shipped batch schema: the addresses of every contact.
    document, base_uri = default_registry().get("contacts.create-batch")
    assert mx_paths(SchemaView(document, base_uri, default_registry().resources())) == \
        MXPaths((("contacts", EVERY_ITEM, "email"),), exact=True)


def test_mx_paths_that_cannot_be_named_exactly_are_not_exact() -> None:
    # Named but conditional: looked up or not depending on the branch.
    assert _mx_paths({"anyOf": [{"properties": {"email": {"mx": True}}}]}) == \
        MXPaths((("email",),), exact=False)
    # Not nameable at all.
    assert not _mx_paths({"additionalProperties": {"mx": True}}).exact
    assert not _mx_paths({"patternProperties": {"^e": {"mx": True}}}).exact
    # Recursive: paths without end.
    assert not _mx_paths({"$defs": {"node": {"properties": {
        "email": {"mx": True}, "next": {"$ref": "#/$defs/node"}}}},
        "$ref": "#/$defs/node"}).exact
    # A recursive schema without `mx` loses nothing.
    assert _mx_paths({"$defs": {"node": {"properties": {"next": {"$ref": "#/$defs/node"}}}},
                      "$ref": "#/$defs/node", "properties": {"email": {"mx": True}}}) == \
        MXPaths((("email",),), exact=True)


def test_values_at_reads_every_item_and_skips_what_the_rules_do_not_reach() -> None:
    path = ("contacts", EVERY_ITEM, "email")
    data = {"contacts": [{"email": "a@x.com"}, {"name": "no address"}, "odd",
                         {"email": "b@y.com"}]}
    assert list(values_at(data, path)) == [(("contacts", 0, "email"), "a@x.com"),
                                           (("contacts", 3, "email"), "b@y.com")]
    assert list(values_at({"contacts": {"email": "a@x.com"}}, path)) == []
    assert list(values_at(["a", "b"], (1,))) == [((1,), "b")]
    assert list(values_at(["a"], (1,))) == []
