"""Each shipped schema against the official OpenAPI document: the example request it
documents is valid, and hand-made bad requests get the codes the API gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from validator import SchemaError, SchemaRegistry, UnknownSchema, Validator, validate

OFFICIAL = (Path(__file__).resolve().parents[2] / "shared" / "reference" / "getresponse"
            / "getresponse-contacts-skill" / "openapi.json")
SHIPPED = Path(__file__).resolve().parents[1] / "schemas"

# Shipped schema → the official document's request body component.
BODIES = {
    "contacts.create": "NewContact",
    "contacts.update": "UpdateContact",
    "contacts.upsert-tags": "UpsertContactTags",
    "contacts.upsert-custom-fields": "UpsertContactCustomFields",
    "tags.create": "NewTag",
    "custom-fields.create": "NewCustomField",
    "campaigns.create": "NewCampaign",
}
_MISSING = object()


def _example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """The request the document's own `example` values describe (read-only fields left out)."""
    if "$ref" in schema:
        return _example(components[schema["$ref"].rsplit("/", 1)[1]], components)
    if "example" in schema:
        return schema["example"]
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = _example(part, components)
            if isinstance(value, dict):
                merged.update(value)
        own = {k: v for k, v in schema.items() if k != "allOf"}
        if "properties" in own:
            merged.update(_example(own, components))
        return merged
    if "oneOf" in schema or "anyOf" in schema:
        return _example((schema.get("oneOf") or schema["anyOf"])[0], components)
    if "properties" in schema:
        out = {}
        for name, sub in schema["properties"].items():
            if sub.get("readOnly"):
                continue
            value = _example(sub, components)
            if value is not _MISSING:
                out[name] = value
        return out
    if schema.get("type") == "array":
        item = _example(schema.get("items", {}), components)
        return [] if item is _MISSING else [item]
    return _MISSING


def _official_examples() -> dict[str, Any]:
    document = json.loads(OFFICIAL.read_text())
    components = document["components"]["schemas"]
    return {name: _example(components[body], components) for name, body in BODIES.items()}


def test_every_shipped_schema_is_listed() -> None:
    assert set(BODIES) <= set(SchemaRegistry().names())


@pytest.mark.skipif(not OFFICIAL.exists(), reason="the official document is not present")
@pytest.mark.parametrize("name", sorted(BODIES))
def test_the_documents_example_request_is_valid(name: str) -> None:
    example = _official_examples()[name]
    assert example, name
    result = validate(example, name)
    assert result.ok, result.error and result.error.to_dict()


@pytest.mark.skipif(not OFFICIAL.exists(), reason="the official document is not present")
def test_example_contact_is_what_the_document_describes() -> None:
    contact = _official_examples()["contacts.create"]
    assert contact["email"] == "john.doe@example.com"
    assert contact["campaign"] == {"campaignId": "C"}
    assert contact["customFieldValues"] == [{"customFieldId": "kL6Nh", "value": ["18-35"]}]


INVALID: list[tuple[str, dict[str, Any], list[tuple[list[Any], int]]]] = [
    ("contacts.create", {"email": "john.doe@example.com", "campaign": {"campaignId": "C"},
                         "ipAddress": "300.1.1.1", "scoring": "high", "dayOfCycle": 3},
     [(["ipAddress"], 1003), (["scoring"], 1006), (["dayOfCycle"], 1006)]),
    ("contacts.create", {"email": "john.doe@example.com", "campaign": {"campaignId": "C"},
                         "customFieldValues": [{"customFieldId": "kL6Nh", "value": "18-35"},
                                               {"value": ["x"]}]},
     [(["customFieldValues", 0, "value"], 1006),
      (["customFieldValues", 1, "customFieldId"], 1005)]),
    ("contacts.update", {"note": "n" * 256, "email": ""},
     [(["note"], 1007), (["email"], 1005)]),
    ("contacts.upsert-tags", {"tags": [{"tagId": "m7E2"}, {"tagId": "bad id"}]},
     [(["tags", 1, "tagId"], 1003)]),
    ("contacts.upsert-custom-fields", {}, [(["customFieldValues"], 1005)]),
    ("tags.create", {"name": "a"}, [(["name"], 1007)]),
    ("tags.create", {"name": "my tag!"}, [(["name"], 1003)]),
    ("custom-fields.create", {"name": "Office Phone", "type": "mobile", "format": "radio",
                              "hidden": False, "values": ["1"]},
     [(["name"], 1003), (["type"], 1003), (["hidden"], 1006), (["values"], 1004)]),
    ("campaigns.create", {"name": "ab", "languageCode": "ENG", "isDefault": True,
                          "confirmation": {"redirectType": "customUrl"}},
     [(["name"], 1007), (["languageCode"], 1003), (["isDefault"], 1006),
      (["confirmation", "redirectUrl"], 1005)]),
    ("campaigns.create", {"name": "Newsletter", "profile": {"logo": "not a url", "title": "t"}},
     [(["profile", "logo"], 1003), (["profile", "title"], 1007)]),
]


@pytest.mark.parametrize(("name", "body", "expected"), INVALID,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(INVALID)])
def test_hand_made_invalid_requests(name: str, body: dict[str, Any],
                                    expected: list[tuple[list[Any], int]]) -> None:
    error = validate(body, name).error
    assert error is not None
    assert [(e["fieldName"], e["code"]) for e in error.to_dict()["context"]] == expected
    codes = {code for _, code in expected}
    assert error.code == (codes.pop() if len(codes) == 1 else 1000)


def test_unknown_schema_names_the_known_ones() -> None:
    with pytest.raises(UnknownSchema) as caught:
        validate({}, "contacts.delete")
    assert isinstance(caught.value, LookupError)
    assert "contacts.create" in str(caught.value)


def test_user_schemas_from_a_folder_can_ref_each_other(tmp_path: Path) -> None:
    (tmp_path / "base.json").write_text(json.dumps(
        {"$defs": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"}}}))
    (tmp_path / "orders.create.json").write_text(json.dumps(
        {"type": "object", "required": ["sku"],
         "properties": {"sku": {"$ref": "base.json#/$defs/sku"},
                        "email": {"$ref": "_common.json#/$defs/email"}}}))
    (tmp_path / "_common.json").write_text(json.dumps(
        {"$defs": {"email": {"type": "string", "format": "email"}}}))
    registry = SchemaRegistry(shipped=False)
    assert sorted(registry.register_dir(tmp_path)) == ["_common", "base", "orders.create"]
    assert registry.names() == ["base", "orders.create"]
    validator = Validator("orders.create", registry=registry)
    assert validator.validate({"sku": "ABC-12"}).ok
    entries = validator.validate({"sku": "abc", "email": "x"}).error.to_dict()["context"]
    assert [e["fieldName"] for e in entries] == [["sku"], ["email"]]


def test_registering_a_schema_replaces_cached_validators() -> None:
    from validator import register_schema

    register_schema("test.thing", {"type": "object", "required": ["a"]})
    assert not validate({}, "test.thing").ok
    register_schema("test.thing", {"type": "object"})
    assert validate({}, "test.thing").ok


def test_invalid_schemas_are_refused_with_a_reason(tmp_path: Path) -> None:
    registry = SchemaRegistry(shipped=False)
    with pytest.raises(SchemaError, match="not a valid JSON Schema"):
        registry.register("bad", {"type": "strin"})
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(SchemaError, match="not valid JSON"):
        registry.register_file(tmp_path / "broken.json")
    with pytest.raises(SchemaError, match="invalid pattern"):
        Validator({"pattern": "("}, registry=registry)
    with pytest.raises(SchemaError, match="cannot resolve"):
        Validator({"$ref": "missing.json"}, registry=registry)


def test_a_new_registry_never_gets_a_freed_ones_compiled_engine() -> None:
    # Found by the fuzz run: the engine cache keyed on id(registry), and a registry made
    # after another was freed could take its id, and with the same name and version its
    # engine too.
    ids = set()
    for round_ in range(50):
        registry = SchemaRegistry(shipped=False)
        kind = "string" if round_ % 2 else "integer"
        registry.register("fuzz.same-name", {"type": kind})
        assert Validator("fuzz.same-name", registry=registry).validate(b"1").ok \
            is (kind == "integer")
        ids.add(id(registry))
        del registry
    assert len(ids) < 50  # the ids were reused, so the test did test something
