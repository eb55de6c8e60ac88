"""The OpenAPI importer: translation rules on small documents, the rules layer, the CLI, and
conformance of the shipped schemas with the official document (examples, generated payloads
against an OpenAPI validator, no drift)."""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from validator import Validator, validate
from validator._exceptions import OpenAPIError, RulesError
from validator.openapi._importer import ImportResult, import_documents, operation_name
from validator.openapi._overlay import apply_rules, load_rules, merge_patch

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT.parent / "shared" / "reference" / "getresponse"
# The documents the shipped schemas come from, most authoritative first (see openapi/README.md).
DOCUMENTS = [
    REFERENCE / "getresponse-contacts-skill" / "openapi.json",
    *sorted((REFERENCE / "api-evangelist-openapi").glob("*.yml")),
    REFERENCE / "getresponse-newsletter-skill" / "openapi.json",
]
RULES = ROOT / "openapi" / "getresponse.rules.json"


def _document(paths: dict[str, Any], schemas: dict[str, Any] | None = None,
              version: str = "3.0.3", **extra: Any) -> dict[str, Any]:
    return {"openapi": version, "info": {"title": "t", "version": "1"}, "paths": paths,
            "components": {"schemas": schemas or {}, **extra}}


OK = {"200": {"description": "done"}}
"""The responses of an operation: the importer ignores them, but a valid document has one."""


def _post(schema: Any, operation_id: str | None = None) -> dict[str, Any]:
    named = {"operationId": operation_id} if operation_id else {}
    return {"post": {**named, "requestBody": {
        "content": {"application/json": {"schema": schema}}}, "responses": OK}}


def _import(tmp_path: Path, document: dict[str, Any], suffix: str = ".json"
            ) -> dict[str, dict[str, Any]]:
    file = tmp_path / f"api{suffix}"
    file.write_text(yaml.safe_dump(document) if suffix == ".yml" else json.dumps(document))
    return import_documents([file]).schemas


def _strip(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in ("$schema", "title", "x-route")}


# -- translation -------------------------------------------------------------------------


def test_nullable_read_only_and_refs_become_2020_12(tmp_path: Path) -> None:
    schemas = _import(tmp_path, _document({"/things": _post(
        {"$ref": "#/components/schemas/Thing"})}, {
        "Thing": {"type": "object", "required": ["id", "name"], "properties": {
            "id": {"type": "string", "readOnly": True},
            "name": {"type": "string", "nullable": True, "example": "n"},
            "kind": {"type": "string", "enum": ["a", "b"], "nullable": True},
            "parent": {"allOf": [{"$ref": "#/components/schemas/Ref"}], "nullable": True},
            "size": {"type": "integer", "format": "int64", "minimum": 0,
                     "exclusiveMinimum": True},
            "x-internal": {"type": "string"},
        }, "x-vendor": 1, "discriminator": {"propertyName": "kind"}},
        "Ref": {"type": "object", "properties": {"refId": {"type": "string"}}},
    }))
    assert _strip(schemas["things.create"]) == {
        "type": "object", "required": ["name"], "properties": {
            "name": {"type": ["string", "null"], "examples": ["n"]},
            "kind": {"type": ["string", "null"], "enum": ["a", "b", None]},
            "parent": {"type": ["object", "null"], "properties": {"refId": {"type": "string"}}},
            "size": {"type": "integer", "exclusiveMinimum": 0},
            "x-internal": {"type": "string"},
        }}


def test_all_of_of_plain_objects_is_merged_and_interacting_parts_are_kept(
        tmp_path: Path) -> None:
    base = {"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}}
    schemas = _import(tmp_path, _document({
        "/merged": _post({"allOf": [{"$ref": "#/components/schemas/Base"},
                                    {"properties": {"b": {"type": "number"}}}],
                          "required": ["b"]}),
        "/kept": _post({"allOf": [{"$ref": "#/components/schemas/Base"},
                                  {"additionalProperties": False}]}),
    }, {"Base": base}))
    assert _strip(schemas["merged.create"]) == {
        "required": ["b", "a"], "type": "object",
        "properties": {"a": {"type": "string"}, "b": {"type": "number"}}}
    assert schemas["kept.create"]["allOf"] == [base, {"additionalProperties": False}]


def test_read_only_fields_required_by_another_part_are_not_required_in_requests(
        tmp_path: Path) -> None:
    schema = _import(tmp_path, _document({"/things": _post({"allOf": [
        {"$ref": "#/components/schemas/Stored"},
        {"type": "object", "required": ["id", "name"],
         "properties": {"name": {"type": "string"}}}]})},
        {"Stored": {"type": "object", "required": ["id"], "properties": {
            "id": {"type": "string", "readOnly": True},
            "tags": {"type": "array", "items": {"type": "object", "required": ["tagId", "at"],
                     "properties": {"tagId": {"type": "string"},
                                    "at": {"type": "string", "readOnly": True}}}}}}}))
    merged = schema["things.create"]
    assert merged["required"] == ["name"]
    assert set(merged["properties"]) == {"tags", "name"}
    assert merged["properties"]["tags"]["items"]["required"] == ["tagId"]
    assert validate({"name": "x", "tags": [{"tagId": "t"}]}, merged).ok


def test_recursive_component_goes_to_defs(tmp_path: Path) -> None:
    node = {"type": "object", "properties": {
        "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}}
    schema = _import(tmp_path, _document({"/nodes": _post(
        {"$ref": "#/components/schemas/Node"})}, {"Node": node}))["nodes.create"]
    assert schema["$ref"] == "#/$defs/Node"
    assert schema["$defs"]["Node"]["properties"]["children"]["items"] == {"$ref": "#/$defs/Node"}
    assert validate({"children": [{"children": [{"children": 3}]}]}, schema).error is not None
    assert validate({"children": [{"children": []}]}, schema).ok


def test_openapi_3_1_keeps_type_arrays_and_ref_siblings(tmp_path: Path) -> None:
    schemas = _import(tmp_path, _document({"/things": _post({
        "type": "object", "properties": {
            "tag": {"$ref": "#/components/schemas/Tag", "description": "the tag",
                    "maxLength": 5},
            "note": {"type": ["string", "null"]}}})},
        {"Tag": {"type": "string", "minLength": 1}}, version="3.1.0"), suffix=".yml")
    properties = schemas["things.create"]["properties"]
    assert properties["tag"] == {"type": "string", "minLength": 1, "description": "the tag",
                                 "maxLength": 5}
    assert properties["note"] == {"type": ["string", "null"]}


def test_query_parameters_nest_by_brackets(tmp_path: Path) -> None:
    schemas = _import(tmp_path, _document({"/things": {
        "parameters": [{"$ref": "#/components/parameters/Page"}],
        "get": {"operationId": "getThingList", "responses": OK, "parameters": [
            {"name": "query[name]", "in": "query", "schema": {"type": "string"}},
            {"name": "query[createdOn][from]", "in": "query", "required": True,
             "schema": {"type": "string", "format": "date"}},
            {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
            {"name": "ids", "in": "query", "schema": {"type": "array",
                                                      "items": {"type": "integer"}}},
        ]}}}, parameters={"Page": {"name": "page", "in": "query",
                                    "schema": {"type": "integer", "minimum": 1}}}))
    query = schemas["things.list.query"]
    assert query["validationType"] == "query"
    assert query["properties"]["page"] == {"type": "integer", "minimum": 1}
    assert query["properties"]["query"]["properties"]["createdOn"] == {
        "type": "object", "properties": {"from": {"type": "string", "format": "date"}},
        "required": ["from"]}
    assert validate("ids=1&ids=x&query[createdOn][from]=2024-01-01", query).failures[
        0].field_name == ("ids", 1)
    assert validate("ids=1&ids=2&query[createdOn][from]=2024-01-01", query).ok
    result = validate("page=0&query[createdOn][from]=2024-13-01", query)
    assert [(c["fieldName"], c["code"], c["validationType"]) for c in
            result.error.to_dict()["context"]] == [  # type: ignore[union-attr]
        (["page"], 1003, "query"), (["query", "createdOn", "from"], 1003, "query")]


@pytest.mark.parametrize(("method", "path", "operation_id", "name"), [
    ("post", "/contacts", "createContact", "contacts.create"),
    ("post", "/contacts/{contactId}/tags", "upsertTags", "contacts.upsert-tags"),
    ("get", "/contacts", "getContactList", "contacts.list"),
    ("get", "/contacts/{contactId}", "getContactById", "contacts.get"),
    ("post", "/contacts/batch", "createBatchContacts", "contacts.create-batch"),
    ("post", "/custom-fields", "createCustomField", "custom-fields.create"),
    ("get", "/campaigns/{id}/contacts", "getContactsFromCampaign",
     "campaigns.get-contacts-from-campaign"),
    ("post", "/newsletters/send-draft", "sendDraft", "newsletters.send-draft"),
    ("post", "/orders", None, "orders.create"),
    ("get", "/orders/{orderId}", None, "orders.get"),
    ("post", "/orders/{orderId}", None, "orders.update"),
    ("delete", "/orders/{orderId}", None, "orders.delete"),
    ("post", "/orders/{orderId}/items", None, "orders.create-items"),
])
def test_operation_names(method: str, path: str, operation_id: str | None, name: str) -> None:
    assert operation_name(method, path, operation_id) == name


def test_unusable_documents_are_refused_with_a_reason(tmp_path: Path) -> None:
    not_openapi = tmp_path / "swagger.json"
    not_openapi.write_text(json.dumps({"swagger": "2.0", "paths": {}}))
    with pytest.raises(OpenAPIError, match=r"not an OpenAPI 3\.x document"):
        import_documents([not_openapi])
    external = tmp_path / "external.json"
    external.write_text(json.dumps(_document({"/x": _post({"$ref": "other.json#/X"})})))
    with pytest.raises(OpenAPIError, match=r"other\.json, which does not exist"):
        import_documents([external])
    clash = tmp_path / "clash.json"
    # Two operationIds (unique, as a valid document has them) that make one name.
    by_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
    clash.write_text(json.dumps(_document({
        "/a": _post({}, "createA"),
        "/a/{id}/x": {**_post({}, "createAX"), "parameters": by_id},
        "/a/{id}/y": {**_post({}, "create_ax"), "parameters": by_id}})))
    with pytest.raises(OpenAPIError, match="would both be named"):
        import_documents([clash])


def test_the_first_document_wins_a_repeated_operation(tmp_path: Path) -> None:
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps(_document({"/t": _post({"type": "object"}, "createT")})))
    second.write_text(json.dumps(_document({"/t": _post({"type": "array"}, "createT")})))
    result = import_documents([first, second])
    assert result.schemas["t.create"]["type"] == "object"
    assert [(op.source, why) for op, why in result.skipped] == [
        (f"{tmp_path.name}/second.json", f"{tmp_path.name}/first.json defines it already")]


# -- rules -------------------------------------------------------------------------------


def test_merge_patch_follows_rfc_7396() -> None:
    assert merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"a": None, "b": {"c": 4}, "e": [1]}) \
        == {"b": {"c": 4, "d": 3}, "e": [1]}


def test_rules_patch_by_name_format_and_pointer_but_not_query_schemas() -> None:
    schemas = {
        "t.create": {"type": "object", "properties": {
            "tagId": {"type": "string"}, "mail": {"type": "string", "format": "email"},
            "optin": {"type": "object", "properties": {"email": {"enum": ["single"]}}}}},
        "t.list.query": {"validationType": "query", "type": "object",
                         "properties": {"tagId": {"type": "string"}}},
    }
    rules = {"bodyProperties": {"tagId": {"format": "resource-id"}},
             "bodyFormats": {"email": {"mx": True}},
             "schemas": {"t.create": {"/properties/optin/properties/email": {"enum": None}}}}
    out = apply_rules(schemas, rules)
    assert out["t.create"]["properties"] == {
        "tagId": {"type": "string", "format": "resource-id"},
        "mail": {"type": "string", "format": "email", "mx": True},
        "optin": {"type": "object", "properties": {"email": {}}}}
    assert out["t.list.query"] == schemas["t.list.query"]
    assert schemas["t.create"]["properties"]["tagId"] == {"type": "string"}  # input untouched


def test_rules_that_no_longer_match_the_document_are_errors(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="does not have"):
        apply_rules({"t.create": {"properties": {}}},
                    {"schemas": {"t.create": {"/properties/gone": {"minLength": 1}}}})
    with pytest.raises(RulesError, match="did not produce"):
        apply_rules({}, {"schemas": {"t.gone": {"": {}}}})
    bad = tmp_path / "rules.json"
    bad.write_text(json.dumps({"schema": {}}))
    with pytest.raises(RulesError, match="unknown keys"):
        load_rules(bad)


# -- the shipped schemas -----------------------------------------------------------------


def _regenerate(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "validator.cli", "schemas", "import-openapi",
         *map(str, DOCUMENTS), "--rules", str(RULES), "--out", str(out), *extra],
        capture_output=True, text=True, timeout=120, check=False)


def test_committed_schemas_equal_a_fresh_import() -> None:
    """CI fails on drift: the committed schemas/ are exactly what the import makes."""
    done = _regenerate(ROOT / "schemas", "--check")
    assert done.returncode == 0, done.stderr


def test_import_writes_files_and_check_reports_drift(tmp_path: Path) -> None:
    out = tmp_path / "schemas"
    done = _regenerate(out)
    assert done.returncode == 0, done.stderr
    assert "skipped GET /from-fields from getresponse-newsletter-skill/openapi.json" \
        in done.stderr
    written = sorted(p.name for p in out.glob("*.json"))
    assert written == sorted(p.name for p in (ROOT / "schemas").glob("*.json"))
    (out / "tags.create.json").write_text("{}")
    (out / "gone.create.json").write_text((out / "tags.update.json").read_text())
    (out / "mine.json").write_text("{}")  # hand-written: never touched
    done = _regenerate(out, "--check")
    assert done.returncode == 1
    assert "differs: tags.create.json" in done.stderr
    assert "no longer generated: gone.create.json" in done.stderr
    assert _regenerate(out).returncode == 0
    assert not (out / "gone.create.json").exists() and (out / "mine.json").exists()
    assert _regenerate(out, "--check").returncode == 0


def test_import_cli_says_what_is_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    done = subprocess.run(
        [sys.executable, "-m", "validator.cli", "schemas", "import-openapi", str(bad),
         "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=60,
        check=False)
    assert done.returncode == 2
    assert "neither JSON nor YAML" in done.stderr or "not an OpenAPI" in done.stderr
    assert "Traceback" not in done.stderr


COVERED = {
    "contacts.create", "contacts.update", "contacts.upsert-tags",
    "contacts.upsert-custom-fields", "contacts.create-batch", "custom-fields.create",
    "custom-fields.update", "campaigns.create", "campaigns.update", "campaigns.update-blocklist",
    "tags.create", "tags.update", "from-fields.create", "suppressions.create",
    "suppressions.update", "search-contacts.search", "newsletters.create",
    "newsletters.send-draft", "imports.create",
}


def test_every_request_body_of_the_reference_documents_is_shipped() -> None:
    from validator import default_registry

    names = set(default_registry().names())
    assert names >= COVERED
    assert {"contacts.list.query", "campaigns.list.query", "newsletters.list.query"} <= names
    readme = (ROOT / "openapi" / "README.md").read_text()
    for name in COVERED:
        assert f"`{name}`" in readme, f"openapi/README.md does not list {name}"


def _example(schema: Any, document: dict[str, Any], depth: int = 0) -> Any:
    """The request the document's `example` values describe, read-only fields left out."""
    if depth > 12 or not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        target: Any = document
        for part in schema["$ref"][2:].split("/"):
            target = target[part]
        return _example(target, document, depth + 1)
    if "example" in schema:
        return schema["example"]
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in [*schema["allOf"], {k: v for k, v in schema.items() if k != "allOf"}]:
            value = _example(part, document, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    if "oneOf" in schema or "anyOf" in schema:
        return _example((schema.get("oneOf") or schema["anyOf"])[0], document, depth + 1)
    if "properties" in schema:
        out = {}
        for name, sub in schema["properties"].items():
            if isinstance(sub, dict) and sub.get("readOnly"):
                continue
            value = _example(sub, document, depth + 1)
            if value is not None:
                out[name] = value
        return out
    if schema.get("type") == "array":
        item = _example(schema.get("items", {}), document, depth + 1)
        return [] if item is None else [item]
    return None


@functools.cache
def _documents() -> dict[str, dict[str, Any]]:
    """The reference documents, by the source name the importer gives them."""
    from validator.openapi._importer import load_document

    return {"/".join(path.parts[-2:]): load_document(path) for path in DOCUMENTS}


@functools.cache
def _reference_import() -> ImportResult:
    """The reference documents imported with the rules' names, without the rules layer."""
    return import_documents(list(DOCUMENTS), names=load_rules(RULES)["names"])


def _official_bodies() -> list[tuple[str, Any, dict[str, Any]]]:
    """(schema name, the document's body schema, the document) for every imported body."""
    result = _reference_import()
    documents = _documents()
    bodies = []
    for op in result.operations:
        if op.body is None:
            continue
        document = documents[op.source]
        body = document["paths"][op.path][op.method]["requestBody"]
        if "$ref" in body:
            body = document["components"]["requestBodies"][body["$ref"].rsplit("/", 1)[1]]
        bodies.append((op.name, body["content"]["application/json"]["schema"], document))
    return bodies


@pytest.mark.parametrize(("name", "schema", "document"), _official_bodies(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_the_documents_example_body_is_valid(name: str, schema: Any,
                                             document: dict[str, Any]) -> None:
    if _OPERATIONS[name].source.startswith("getresponse-newsletter-skill/"):
        pytest.skip("the simplified document's examples leave out required fields; it is "
                    "not the official document (reference/getresponse/SOURCES.md)")
    example = _example(schema, document)
    assert example, name
    result = validate(example, name)
    assert result.ok, (example, result.error and result.error.to_dict()["context"])


def test_query_parameters_of_the_shipped_schemas() -> None:
    assert validate("page=2&perPage=1000&sort[createdOn]=DESC&fields=email,name",
                    "contacts.list.query").ok
    result = validate({"page": "0", "perPage": ["5", "1001"], "query[origin]": "fax",
                       "sort[email]": "up"}, "contacts.list.query")
    context = result.error.to_dict()["context"]  # type: ignore[union-attr]
    assert [(c["fieldName"], c["code"], c["originalValue"]) for c in context] == [
        (["page"], 1003, 0), (["perPage"], 1003, 1001), (["query", "origin"], 1003, "fax"),
        (["sort", "email"], 1003, "up")]
    assert {c["validationType"] for c in context} == {"query"}
    assert context[1]["limits"] == {"min": 1, "max": 1000}
    typed = validate("page=first", "contacts.list.query").error.to_dict()  # type: ignore
    assert typed["code"] == 1006 and typed["context"][0]["expectedType"] == ["integer"]
    pairs = Validator("campaigns.list.query").validate([("page", "1"), ("perPage", "0")])
    assert [c.field_name for c in pairs.failures] == [("perPage",)]


# -- generated payloads: the engine against an OpenAPI validator ---------------------------

schemathesis = pytest.importorskip("schemathesis")
openapi_schema_validator = pytest.importorskip("openapi_schema_validator")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PLAIN = {name: (schema, document) for name, schema, document in _official_bodies()}
_OPERATIONS = {op.name: op for op in _reference_import().operations}
_PURE = _reference_import().schemas
_OTHER_TYPES = [None, 7, -1.5, True, "text", "", [], {}, ["x"], {"k": 1}]


def _read_only_names(node: Any, document: dict[str, Any], seen: set[str]) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in seen:
                return found
            seen.add(ref)
            target: Any = document
            for part in ref[2:].split("/"):
                target = target[part]
            return _read_only_names(target, document, seen)
        for name, sub in node.get("properties", {}).items():
            if isinstance(sub, dict) and sub.get("readOnly"):
                found.add(name)
        for value in node.values():
            if isinstance(value, dict | list):
                found |= _read_only_names(value, document, seen)
    elif isinstance(node, list):
        for value in node:
            found |= _read_only_names(value, document, seen)
    return found


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, sub in value.items():
            out += _paths(sub, (*prefix, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            out += _paths(sub, (*prefix, index))
    return out


def _mutate(value: Any, path: tuple[Any, ...], replacement: Any) -> Any:
    if not path:
        return replacement
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        if replacement is _DELETE and not rest:
            copy.pop(head, None)
        else:
            copy[head] = _mutate(value[head], rest, replacement)
        return copy
    copy_list = list(value)
    copy_list[head] = _mutate(value[head], rest, replacement) \
        if replacement is not _DELETE or rest else None
    return copy_list


_DELETE = object()


def _exists(payload: Any, path: list[Any]) -> bool:
    node = payload
    for key in path:
        if (isinstance(node, dict) and key in node) or (
                isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)):
            node = node[key]
        else:
            return False
    return True


@pytest.mark.parametrize("name", sorted(_PLAIN))
def test_generated_payloads_get_the_official_verdict(name: str) -> None:
    """Bodies that schemathesis draws from the official document (valid and invalid ones),
    and random mutations of them, are judged alike by the engine (on the import without the
    rules layer, formats as annotations) and by openapi-schema-validator on the document's
    own schema; every failure names a real field of the body."""
    official, document = _PLAIN[name]
    oracle = openapi_schema_validator.OAS30Validator(
        {**official, "components": document.get("components", {})})
    engine = Validator(_PURE[name], assert_formats=False)
    read_only = _read_only_names(official, document, set())
    operation = schemathesis.openapi.from_dict(document)[_OPERATIONS[name].path][
        _OPERATIONS[name].method.upper()]
    bodies = st.one_of(*(operation.as_strategy(generation_mode=mode)
                         for mode in schemathesis.GenerationMode)).map(lambda case: case.body)

    @settings(max_examples=80, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(bodies, st.data())
    def check(payload: Any, data: st.DataObject) -> None:
        if isinstance(payload, bytes | bytearray) or payload is None:
            return  # not a JSON body (schemathesis' negative mode also sends raw bytes)
        if data.draw(st.booleans()):
            where = data.draw(st.sampled_from(_paths(payload)))
            replacement = data.draw(st.sampled_from([_DELETE, *_OTHER_TYPES]))
            if not where:
                payload = {} if replacement is _DELETE else replacement
            else:
                payload = _mutate(payload, where, replacement)
        if any(isinstance(p[-1], str) and p[-1] in read_only for p in _paths(payload) if p):
            return  # the document's read-only fields: dropped from requests by the import
        result = engine.validate(payload)
        refused = list(oracle.iter_errors(payload))
        if result.ok and refused:
            # The one reading on purpose apart (openapi/README.md): `nullable` next to an
            # `allOf` lets null through, as its author meant; OpenAPI 3.0.3 says the allOf
            # part still refuses it, and so does the oracle.
            assert all(e.instance is None and "allOf" in e.absolute_schema_path
                       for e in refused), (payload, [e.message for e in refused])
        else:
            assert result.ok == (not refused), (payload, result.failures)
        if result.error is None:
            return
        for entry in result.error.to_dict()["context"]:
            field = entry["fieldName"]
            assert _exists(payload, field) or (
                entry["code"] == 1005 and _exists(payload, field[:-1])), (payload, entry)

    check()


def test_validate_cli_takes_a_query_string_for_a_query_schema() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "validator.cli", "validate", "--schema", "contacts.list.query",
         "-"], input="page=0&sort[email]=DESC", capture_output=True, text=True, timeout=60,
        check=False)
    assert done.returncode == 1, done.stderr
    body = json.loads(done.stdout)
    assert [(c["validationType"], c["fieldName"]) for c in body["context"]] == [
        ("query", ["page"])]


_QUERIES = sorted(name for name, op in _OPERATIONS.items() if op.query is not None)


@pytest.mark.parametrize("name", _QUERIES)
def test_queries_schemathesis_draws_from_the_document_are_accepted(name: str) -> None:
    """Every query string that schemathesis draws as valid from the document's parameters
    (sent as text, the way it travels) passes the query schema; invalid draws never crash,
    and each entry names a parameter that was sent (or a required one that was not)."""
    from urllib.parse import urlencode

    op = _OPERATIONS[name]
    operation = schemathesis.openapi.from_dict(_documents()[op.source])[op.path][
        op.method.upper()]
    validator = Validator(f"{name}.query")
    modes = list(schemathesis.GenerationMode)

    @settings(max_examples=30, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(modes).flatmap(
        lambda mode: operation.as_strategy(generation_mode=mode).map(lambda c: (mode, c))))
    def check(drawn: tuple[Any, Any]) -> None:
        mode, case = drawn
        query = {k: str(v).lower() if isinstance(v, bool) else v
                 for k, v in (case.query or {}).items()}
        if not isinstance(query, dict):
            return
        text = urlencode(query, doseq=True)
        result = validator.validate(text)
        if mode == schemathesis.GenerationMode.POSITIVE:
            assert result.ok, (text, result.failures)
        for failure in result.failures:
            assert failure.validation_type == "query"
            assert failure.field_name, (text, failure)

    check()


def test_every_shipped_schema_is_a_valid_json_schema() -> None:
    """The registry trusts the shipped files (it skips the metaschema check at start-up), so
    the check is made here."""
    from validator._registry import check_schema

    files = sorted((ROOT / "schemas").glob("*.json"))
    assert len(files) == 55
    for file in files:
        check_schema(file.name, json.loads(file.read_text()))
