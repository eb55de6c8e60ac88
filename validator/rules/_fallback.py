"""The jsonschema-backed engine, for schemas the compiler does not implement (dynamic
references, `unevaluated*`, older drafts). Slower, but the same failures: every jsonschema
error is turned into failures by the same builders the compiler uses (`_keywords`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, cast

import referencing
from jsonschema import FormatChecker, ValidationError
from jsonschema.protocols import Validator as JsonschemaValidator
from jsonschema.validators import extend

from .._catalog import Code
from .._options import ValidationOptions
from .._registry import dialect_of
from .._results import Failure, Path
from . import _keywords as kw
from ._compile import json_key
from ._dialect import FORMATS, KEYWORDS, EngineError


def _format_checker(options: ValidationOptions) -> FormatChecker:
    checker = FormatChecker()
    region = options.phone_region
    ours = {name: entry.regional(region) if entry.regional is not None and region
            else entry.check for name, entry in FORMATS.items()}
    for name, check in {**ours, **options.formats}.items():

        def conforms(value: object, _check: Any = check) -> bool:
            return not isinstance(value, str) or _check(value) is None

        checker.checks(name)(conforms)
    return checker


class FallbackEngine:
    def __init__(self, schema: Any, registry: referencing.Registry[Any], options: ValidationOptions
                 ) -> None:
        base = dialect_of(schema)
        keywords = {name: entry.fallback for name, entry in KEYWORDS.items()
                    if entry.fallback is not None and entry.enabled(options)}
        cls = extend(base, keywords)  # type: ignore[no-untyped-call]
        checker = _format_checker(options) if options.assert_formats else None
        self._validator: JsonschemaValidator = cls(
            schema, registry=registry, format_checker=checker,
        )
        self._schema = schema

    def failures(self, payload: Any) -> list[Failure]:
        out: list[Failure] = []
        for error in self._validator.iter_errors(payload):
            out.extend(_convert(error, self._validator))
        return _dedupe(out)


def _dedupe(failures: Iterable[Failure]) -> list[Failure]:
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for f in failures:
        key = (f.code, f.field_name, f.description)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _convert(error: ValidationError, validator: Any) -> list[Failure]:
    path: Path = tuple(error.absolute_path)
    # jsonschema types these as "or unset"; on an error from iter_errors they are all set.
    keyword = cast("str | None", error.validator)
    value: Any = error.validator_value
    instance: Any = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}

    if isinstance(error, EngineError):
        built = error.build(path)
        return [] if built is None else [built]
    if keyword == "type":
        return [kw.wrong_type(path, instance, [value] if isinstance(value, str) else list(value))]
    if keyword in ("required", "dependentRequired"):
        names = value if keyword == "required" else value.get(_dependent_key(error), [])
        return [kw.missing((*path, n), keyword) for n in names
                if isinstance(instance, dict) and n not in instance]
    if keyword in ("minLength", "maxLength"):
        return [kw.wrong_length(path, instance, schema.get("minLength"), schema.get("maxLength"),
                                keyword)]
    if keyword in ("minItems", "maxItems"):
        return [kw.wrong_count(path, instance, len(instance), schema.get("minItems"),
                               schema.get("maxItems"), keyword, "items")]
    if keyword in ("minProperties", "maxProperties"):
        return [kw.wrong_count(path, instance, len(instance), schema.get("minProperties"),
                               schema.get("maxProperties"), keyword, "properties")]
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        low = schema.get("exclusiveMinimum", schema.get("minimum"))
        high = schema.get("exclusiveMaximum", schema.get("maximum"))
        return [kw.out_of_range(path, instance, low, high, "exclusiveMinimum" in schema,
                                "exclusiveMaximum" in schema, keyword)]
    if keyword == "multipleOf":
        return [kw.not_multiple(path, instance, value)]
    if keyword == "format":
        entry = FORMATS.get(value)
        message = (entry.check(instance) if entry and isinstance(instance, str) else None) \
            or error.message
        return [kw.bad_format(path, instance, message)]
    if keyword == "pattern":
        return [kw.no_pattern_match(path, instance, value)]
    if keyword in ("enum", "const"):
        return [kw.not_allowed_value(path, instance, value if keyword == "enum" else [value],
                                     keyword)]
    if keyword == "additionalProperties" and value is False and isinstance(instance, dict):
        return [kw.unknown_property((*path, name), instance[name])
                for name in _extra_properties(instance, schema)]
    if keyword == "unevaluatedProperties" and value is False and isinstance(instance, dict):
        # jsonschema names the unexpected properties only in its message, by their repr.
        listed = error.message.partition("(")[2]
        names = [name for name in instance if repr(name) in listed]
        if names:
            return [kw.unknown_property((*path, name), instance[name]) for name in names]
    if keyword == "uniqueItems":
        return [_unique_failure(path, instance)]
    if keyword in ("anyOf", "oneOf"):
        if not error.context:
            matched = [i for i, sub in enumerate(value) if _is_valid_sub(validator, sub, instance)]
            return [kw.too_many_matches(path, instance, matched)]
        branches: list[list[Failure]] = [[] for _ in value]
        for sub_error in error.context:
            branches[int(sub_error.relative_schema_path[0])].extend(_convert(sub_error, validator))
        # A branch whose only errors were engine keywords that report nothing (an address
        # noted for its MX lookup) passes, as it does in the compiled engine.
        passed = [i for i, b in enumerate(branches) if not b]
        if passed and (keyword == "anyOf" or len(passed) == 1):
            return []
        if passed:
            return [kw.too_many_matches(path, instance, passed)]
        return kw.no_branch_matches(path, instance, branches, keyword)
    if keyword == "not":
        return [kw.negated(path, instance)]
    if keyword in ("contains", "minContains", "maxContains"):
        count = sum(_is_valid_sub(validator, schema.get("contains", True), item)
                    for item in instance)
        return [kw.wrong_count(path, instance, count, schema.get("minContains", 1),
                               schema.get("maxContains"), "contains",
                               "items matching the 'contains' schema")]
    if keyword == "propertyNames":
        named = [kw.property_name((*path, instance), instance, inner)
                 for sub_error in error.context or ()
                 for inner in _convert(sub_error, validator)]
        return named or [kw.bad_format((*path, instance), instance, error.message, keyword)]
    if keyword is None or value is False:
        return [kw.forbidden(path, instance)]
    return [kw.failure(Code.WRONG_FORMAT, path, instance, error.message, keyword or "")]


def _dependent_key(error: ValidationError) -> str:
    # jsonschema reports which property triggered the dependency only in its message.
    instance: Any = error.instance
    dependencies: Any = error.validator_value
    for name, needed in dependencies.items():
        if name in instance and any(n not in instance for n in needed):
            return str(name)
    return ""


def _extra_properties(instance: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [name for name in instance
            if name not in properties and not any(p.search(name) for p in patterns)]


def _unique_failure(path: Path, instance: list[Any]) -> Failure:
    seen: dict[Any, int] = {}
    for index, item in enumerate(instance):
        first = seen.setdefault(json_key(item), index)
        if first != index:
            return kw.not_unique(path, instance, first, index)
    return kw.not_unique(path, instance, 0, 0)


def _is_valid_sub(validator: Any, schema: Any, instance: Any) -> bool:
    return bool(validator.evolve(schema=schema).is_valid(instance))
