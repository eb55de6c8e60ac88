"""The public Python API: `validate`, `Validator`, `Result`, `ApiError`."""

from __future__ import annotations

import asyncio
import json

import orjson
import pytest

import validator
from validator import ApiError, Result, ValidationFailed, Validator, validate

GOOD = {"email": "john.doe@example.com", "campaign": {"campaignId": "C"}, "name": "John"}


def test_public_names_are_exported() -> None:
    for name in ("validate", "Validator", "Result", "ApiError", "ValidationFailed",
                 "UnknownSchema", "ErrorCatalog", "Failure", "SchemaRegistry", "MXChecker"):
        assert name in validator.__all__ and hasattr(validator, name)


def test_valid_payload() -> None:
    result = validate(GOOD, "contacts.create")
    assert isinstance(result, Result)
    assert result.ok and bool(result) and result.error is None and result.failures == ()
    result.raise_for_error()


@pytest.mark.parametrize("form", [json.dumps, lambda d: json.dumps(d).encode(),
                                  lambda d: bytearray(json.dumps(d).encode())])
def test_payload_may_be_json_text_or_bytes(form: object) -> None:
    assert validate(form(GOOD), "contacts.create").ok  # type: ignore[operator]
    assert validate(form({"email": 1}), "contacts.create").error.code == 1000  # type: ignore[operator]


def test_invalid_payload_result() -> None:
    result = validate({**GOOD, "name": ""}, "contacts.create")
    assert not result.ok and not bool(result)
    assert isinstance(result.error, ApiError)
    assert (result.error.code, result.error.http_status) == (1005, 400)
    (failure,) = result.failures
    assert failure.field_name == ("name",) and failure.code == 1005
    with pytest.raises(ValidationFailed) as caught:
        result.raise_for_error()
    assert caught.value.error is result.error
    assert caught.value.result is result


def test_to_json_is_the_body_as_bytes() -> None:
    error = validate({**GOOD, "name": "ż" * 129}, "contacts.create").error
    assert orjson.loads(error.to_json()) == error.to_dict()
    assert "ż" in error.to_json().decode()


def test_validator_compiles_once_and_is_reusable() -> None:
    checker = Validator("contacts.create")
    assert checker.schema_name == "contacts.create"
    assert all(checker.validate(GOOD).ok for _ in range(3))
    assert repr(checker) == "Validator('contacts.create')"


def test_inline_schema() -> None:
    checker = Validator({"type": "object", "properties": {"n": {"type": "integer"}}})
    assert checker.validate({"n": 1}).ok
    assert checker.validate({"n": "1"}).error.code == 1006
    assert validate({"n": 1}, {"type": "object"}).ok


def test_validate_many_keeps_order() -> None:
    checker = Validator("contacts.create")
    results = checker.validate_many([GOOD, {"email": "x"}, GOOD, b"{"])
    assert [r.ok for r in results] == [True, False, True, False]
    assert results[3].error.code == 1000


def test_async_api_without_mx() -> None:
    checker = Validator("contacts.create")

    async def run() -> list[Result]:
        return [await checker.validate_async(GOOD), *await checker.validate_many_async([{}])]

    first, second = asyncio.run(run())
    assert first.ok and second.error.code == 1005


def test_formats_can_be_annotations_only() -> None:
    schema = {"type": "string", "format": "email"}
    assert not Validator(schema).validate('"nope"').ok
    assert Validator(schema, assert_formats=False).validate('"nope"').ok


def test_user_formats() -> None:
    def sku(value: str) -> str | None:
        return None if value.startswith("SKU-") else f"Expected an SKU, got {value!r}"

    checker = Validator({"type": "string", "format": "sku"}, formats={"sku": sku})
    assert checker.validate('"SKU-1"').ok
    (failure,) = checker.validate('"X"').failures
    assert (failure.code, failure.description) == (1003, "Expected an SKU, got 'X'")


def test_non_json_python_values_are_a_wrong_type_not_a_crash() -> None:
    import datetime

    result = validate({**GOOD, "name": datetime.date(2020, 1, 1)}, "contacts.create")
    assert result.error.code == 1006


def test_fallback_engine_gives_the_same_body_shape() -> None:
    # unevaluatedProperties is left to jsonschema; the body is built the same way.
    schema = {"type": "object", "properties": {"a": {"type": "string", "minLength": 2}},
              "unevaluatedProperties": False}
    checker = Validator(schema)
    entries = checker.validate({"a": "x", "b": 1}).error.to_dict()["context"]
    assert [(e["fieldName"], e["code"]) for e in entries] == [(["a"], 1007), (["b"], 1003)]
    assert entries[0]["limits"] == {"min": 2}
