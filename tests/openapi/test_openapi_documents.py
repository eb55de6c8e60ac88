"""Documents as they come: checked by openapi-spec-validator first (the CLI's exit 2 names
the document's own error), and split over local files that refer to each other."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from validator._exceptions import OpenAPIError
from validator.openapi import import_documents

OK = {"200": {"description": "done"}}


def document(schema: Any, version: str = "3.0.3", **components: Any) -> dict[str, Any]:
    return {"openapi": version, "info": {"title": "Orders", "version": "1"},
            "paths": {"/orders": {"post": {"operationId": "createOrder", "requestBody": {
                "content": {"application/json": {"schema": schema}}}, "responses": OK}}},
            **({"components": components} if components else {})}


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "validator", *map(str, args)],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("version", ["3.0.3", "3.1.0"])
@pytest.mark.parametrize("schema, message, pointer", [
    ({"type": "objct"}, "'objct' is not ",
     "#/paths/~1orders/post/requestBody/content/application~1json/schema/type"),
    ({"type": "object", "properties": {"n": {"type": "integer", "minimum": "one"}}},
     "'one' is not of type 'number'",
     "#/paths/~1orders/post/requestBody/content/application~1json/schema/properties/n/minimum"),
])
def test_an_invalid_schema_is_the_documents_error_with_its_place(
        tmp_path: Path, version: str, schema: Any, message: str, pointer: str) -> None:
    file = tmp_path / "api.yaml"
    file.write_text(yaml.safe_dump(document(schema, version)))
    with pytest.raises(OpenAPIError) as caught:
        import_documents([file])
    text = str(caught.value)
    assert text.startswith(f"{file} is not valid OpenAPI: ") and message in text, text
    assert text.endswith(f"(at {pointer})")

    out = tmp_path / "out"
    done = run("schemas", "import-openapi", file, "--out", out)
    assert done.returncode == 2
    assert done.stderr.strip() == f"validator: {text}"
    assert not out.exists()  # nothing written


def test_errors_in_components_and_structure(tmp_path: Path) -> None:
    file = tmp_path / "api.json"
    file.write_text(json.dumps(document({"$ref": "#/components/schemas/Order"},
                                        schemas={"Order": {"type": "object",
                                                           "required": "sku"}})))
    with pytest.raises(OpenAPIError, match=r"'sku' is not of type 'array' \(at "
                                           r"#/components/schemas/Order/required\)"):
        import_documents([file])
    broken = document({"type": "object"})
    del broken["paths"]["/orders"]["post"]["responses"]
    file.write_text(json.dumps(broken))
    with pytest.raises(OpenAPIError, match=r"'responses' is a required property \(at "
                                           r"#/paths/~1orders/post\)"):
        import_documents([file])


def test_external_refs_between_local_files_are_resolved(tmp_path: Path) -> None:
    # orders.yaml → schemas/order.yaml (a whole file) → common.json#/Money (a pointer into
    # another file), whose local $ref stays inside common.json; and a parameter from a file.
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "order.yaml").write_text(yaml.safe_dump({
        "type": "object", "required": ["sku", "price"], "properties": {
            "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]+$"},
            "price": {"$ref": "../common.json#/Money"}}}))
    (tmp_path / "common.json").write_text(json.dumps({
        "Money": {"type": "object", "required": ["amount"], "properties": {
            "amount": {"$ref": "#/Amount"}, "currency": {"type": "string"}}},
        "Amount": {"type": "number", "minimum": 0},
        "Page": {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}}}))
    api = document({"$ref": "schemas/order.yaml"})
    api["paths"]["/orders"]["get"] = {"operationId": "getOrderList", "responses": OK,
                                      "parameters": [{"$ref": "common.json#/Page"}]}
    (tmp_path / "orders.yaml").write_text(yaml.safe_dump(api))
    schemas = import_documents([tmp_path / "orders.yaml"]).schemas
    body = schemas["orders.create"]
    assert body["properties"]["price"] == {
        "type": "object", "required": ["amount"], "properties": {
            "amount": {"type": "number", "minimum": 0}, "currency": {"type": "string"}}}
    assert body["properties"]["sku"]["pattern"] == "^[A-Z]{3}-[0-9]+$"
    assert schemas["orders.list.query"]["properties"]["page"] == {"type": "integer",
                                                                   "minimum": 1}

    # The same through the CLI, and the schema it wrote checks a payload.
    out = tmp_path / "out"
    assert run("schemas", "import-openapi", tmp_path / "orders.yaml", "--out", out
               ).returncode == 0
    payload = tmp_path / "order.json"
    payload.write_text(json.dumps({"sku": "ABC-1", "price": {"amount": -1}}))
    done = run("validate", "--schemas", out, "--schema", "orders.create", payload)
    assert done.returncode == 1
    (entry,) = json.loads(done.stdout)["context"]
    assert entry["fieldName"] == ["price", "amount"]


def test_an_error_in_a_referenced_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "order.json").write_text(json.dumps({"type": "object", "properties": {
        "n": {"type": "integer", "maximum": "ten"}}}))
    (tmp_path / "api.json").write_text(json.dumps(document({"$ref": "order.json"})))
    with pytest.raises(OpenAPIError) as caught:
        import_documents([tmp_path / "api.json"])
    assert str(caught.value) == (f"{tmp_path / 'order.json'} is not valid OpenAPI: 'ten' is "
                                 "not of type 'number' (at #/properties/n/maximum)")


def test_files_that_refer_to_each_other_and_recursion(tmp_path: Path) -> None:
    (tmp_path / "node.json").write_text(json.dumps({"Node": {
        "type": "object", "properties": {"children": {
            "type": "array", "items": {"$ref": "node.json#/Node"}}}}}))
    (tmp_path / "api.json").write_text(json.dumps(document({"$ref": "node.json#/Node"})))
    schema = import_documents([tmp_path / "api.json"]).schemas["orders.create"]
    # The recursion keeps its one reference, as within one file.
    assert schema["$ref"] == "#/$defs/Node"
    assert schema["$defs"]["Node"]["properties"]["children"]["items"] == {
        "$ref": "#/$defs/Node"}


@pytest.mark.parametrize("ref, message", [
    ("https://example.com/order.json", "is remote; the importer reads only local files"),
    ("//example.com/order.json", "is remote"),
    ("missing.json#/X", "missing.json, which does not exist"),
])
def test_remote_and_missing_references_are_refused(tmp_path: Path, ref: str,
                                                   message: str) -> None:
    (tmp_path / "api.json").write_text(json.dumps(document({"$ref": ref})))
    with pytest.raises(OpenAPIError, match=message):
        import_documents([tmp_path / "api.json"])
    done = run("schemas", "import-openapi", tmp_path / "api.json", "--out", tmp_path / "o")
    assert done.returncode == 2 and message.split(";")[0] in done.stderr
    assert "Traceback" not in done.stderr
