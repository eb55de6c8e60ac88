"""The jsonschema-backed engine, for schemas the compiler does not implement (dynamic
references, `unevaluated*`, older drafts). Slower, but the same failures: every jsonschema
error is turned into failures by the same builders the compiler uses (`_keywords`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any, cast

import referencing
import referencing.exceptions
from jsonschema import FormatChecker, ValidationError
from jsonschema.protocols import Validator as JsonschemaValidator
from jsonschema.validators import extend
from referencing.jsonschema import DRAFT202012

from .._catalog import Code
from .._exceptions import SchemaError
from .._options import ValidationOptions
from .._registry import dialect_of
from .._results import Failure, Path
from . import _keywords as kw
from ._compile import failed_multiple, is_integer, json_key
from ._dialect import FORMATS, KEYWORDS, EngineError
from ._patterns import cached_pattern


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


def _engine_error(instance: Any, build: Any) -> EngineError:
    error = EngineError(instance)
    error.build = build
    return error


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any
             ) -> Iterator[ValidationError]:
    # jsonschema's own searches with `re`, without a time bound.
    if isinstance(instance, str):
        found = cached_pattern(pattern)(instance)
        if found is False:
            yield ValidationError(f"{instance!r} does not match {pattern!r}")
        elif found is None:
            yield _engine_error(instance, lambda path: kw.pattern_timeout(path, instance, pattern))


def _pattern_properties(validator: Any, patterns: dict[str, Any], instance: Any, schema: Any
                        ) -> Iterator[ValidationError]:
    if not isinstance(instance, dict):
        return
    for pattern, subschema in patterns.items():
        search = cached_pattern(pattern)
        for name, item in instance.items():
            found = search(name)
            if found:
                yield from validator.descend(item, subschema, path=name, schema_path=pattern)
            elif found is None:
                yield _engine_error(instance, lambda path, name=name, pattern=pattern:
                                    kw.property_name((*path, name), name,
                                                     kw.pattern_timeout((), name, pattern)))


def _matches_a_pattern(name: str, patterns: Iterable[str]) -> bool:
    """Whether a property name is covered by `patternProperties`, each search under the time
    bound. A search out of time counts as covered: `patternProperties` itself reports that
    name (1003), so it is neither let through nor reported twice as unexpected."""
    return any(cached_pattern(pattern)(name) is not False for pattern in patterns)


def _additional(instance: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [name for name in instance
            if name not in properties and not (patterns and _matches_a_pattern(name, patterns))]


def _additional_properties(validator: Any, additional: Any, instance: Any, schema: Any
                           ) -> Iterator[ValidationError]:
    # jsonschema's own matches property names against patternProperties with `re`.
    if not validator.is_type(instance, "object"):
        return
    extras = _additional(instance, schema)
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        yield ValidationError(f"Additional properties are not allowed "
                              f"({', '.join(map(repr, extras))} unexpected)")


def _evaluated_keys(validator: Any, instance: dict[str, Any], schema: Any) -> set[str]:
    """jsonschema's `find_evaluated_property_keys_by_schema`, with bounded pattern searches."""
    if not isinstance(schema, dict):
        return set()
    keys: set[str] = set()
    for keyword in ("$ref", "$dynamicRef"):
        ref = schema.get(keyword)
        if isinstance(ref, str):
            resolved = validator._resolver.lookup(ref)
            keys |= _evaluated_keys(validator.evolve(schema=resolved.contents,
                                                     _resolver=resolved.resolver),
                                    instance, resolved.contents)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        keys |= properties.keys() & instance.keys()
    for keyword in ("additionalProperties", "unevaluatedProperties"):
        subschema = schema.get(keyword)
        if subschema is not None:
            keys.update(name for name, value in instance.items()
                        if _no_errors(validator.descend(value, subschema)))
    patterns = schema.get("patternProperties")
    if isinstance(patterns, dict) and patterns:
        keys.update(name for name in instance if _matches_a_pattern(name, patterns))
    dependent = schema.get("dependentSchemas")
    if isinstance(dependent, dict):
        for name, subschema in dependent.items():
            if name in instance:
                keys |= _evaluated_keys(validator, instance, subschema)
    for keyword in ("allOf", "oneOf", "anyOf"):
        for subschema in schema.get(keyword, []):
            if _no_errors(validator.descend(instance, subschema)):
                keys |= _evaluated_keys(validator, instance, subschema)
    if "if" in schema:
        if validator.evolve(schema=schema["if"]).is_valid(instance):
            keys |= _evaluated_keys(validator, instance, schema["if"])
            if "then" in schema:
                keys |= _evaluated_keys(validator, instance, schema["then"])
        elif "else" in schema:
            keys |= _evaluated_keys(validator, instance, schema["else"])
    return keys


def _no_errors(errors: Iterator[ValidationError]) -> bool:
    return next(errors, None) is None


def _unevaluated_properties(validator: Any, unevaluated: Any, instance: Any, schema: Any
                            ) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    evaluated = _evaluated_keys(validator, instance, schema)
    failed = [name for name in instance if name not in evaluated
              and not _no_errors(validator.descend(instance[name], unevaluated,
                                                   path=name, schema_path=name))]
    if failed:
        names = ", ".join(map(repr, failed))
        if unevaluated is False:
            yield ValidationError(f"Unevaluated properties are not allowed ({names} unexpected)")
        else:
            yield ValidationError(f"Unevaluated properties are not valid under the given schema "
                                  f"({names} unevaluated and invalid)")


def _check_references(schema: Any, registry: referencing.Registry[Any], base_uri: str) -> None:
    """Resolve every `$ref` and `$dynamicRef` once, now: jsonschema resolves them only when a
    payload reaches them, and would fail there."""
    stack: list[tuple[Any, Any]] = [(schema, registry.resolver(base_uri=base_uri))]
    while stack:
        node, resolver = stack.pop()
        if isinstance(node, list):
            stack.extend((item, resolver) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("$id"), str) and node is not schema:
            resolver = resolver.in_subresource(DRAFT202012.create_resource(node))
        for keyword in ("$ref", "$dynamicRef"):
            ref = node.get(keyword)
            if isinstance(ref, str):
                try:
                    resolver.lookup(ref)
                except referencing.exceptions.Unresolvable as exc:
                    raise SchemaError(f"cannot resolve {keyword} {ref!r}: {exc}") from exc
        stack.extend((value, resolver) for key, value in node.items()
                     if key not in _DATA_KEYWORDS)


def _multiple_of(validator: Any, divisor: Any, instance: Any, schema: Any
                 ) -> Iterator[ValidationError]:
    # jsonschema's own divides a Decimal by a float (TypeError) and takes int() of NaN.
    if validator.is_type(instance, "number") and failed_multiple(instance, divisor):
        yield ValidationError(f"{instance!r} is not a multiple of {divisor}")


# enum, const and uniqueItems by the compiled engine's notion of JSON equality: jsonschema's
# own `==` raises on a signalling-NaN Decimal, and the two engines must agree on what is equal.
def _enum(validator: Any, allowed: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    key = json_key(instance)
    if isinstance(allowed, list) and all(json_key(each) != key for each in allowed):
        yield ValidationError(f"{instance!r} is not one of {allowed!r}")


def _const(validator: Any, const: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if json_key(const) != json_key(instance):
        yield ValidationError(f"{const!r} was expected")


def _unique_items(validator: Any, unique: Any, instance: Any, schema: Any
                  ) -> Iterator[ValidationError]:
    if unique and isinstance(instance, list):
        keys = [json_key(item) for item in instance]
        if len(set(keys)) != len(keys):
            yield ValidationError(f"{instance!r} has non-unique elements")


def _nan_as_float(original: Callable[..., Any]) -> Callable[..., Any]:
    """A bound keyword that compares a NaN Decimal as the float NaN (it fails no bound, as a
    float NaN does); comparing the Decimal itself raises InvalidOperation."""
    def check(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        if isinstance(instance, Decimal) and instance.is_nan():
            instance = math.nan  # (float() of a signalling NaN raises)
        return original(validator, value, instance, schema)

    return check


# Keywords whose values are data, never schemas to walk for references.
_DATA_KEYWORDS = frozenset({"enum", "const", "default", "examples"})
_PROBES: tuple[Any, ...] = (None, True, 0, "", [], {})


class FallbackEngine:
    def __init__(self, schema: Any, registry: referencing.Registry[Any], options: ValidationOptions,
                 base_uri: str = "") -> None:
        base = dialect_of(schema)
        keywords: dict[str, Any] = {
            name: entry.fallback for name, entry in KEYWORDS.items()
            if entry.fallback is not None and entry.enabled(options)}
        keywords.update(pattern=_pattern, patternProperties=_pattern_properties,
                        additionalProperties=_additional_properties,
                        unevaluatedProperties=_unevaluated_properties, multipleOf=_multiple_of,
                        enum=_enum, const=_const, uniqueItems=_unique_items)
        for name in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            if name in base.VALIDATORS:
                keywords.setdefault(name, _nan_as_float(base.VALIDATORS[name]))
        # The same integers as the compiled engine: jsonschema's own check refuses Decimal("2").
        types = base.TYPE_CHECKER.redefine("integer", lambda _checker, value: is_integer(value))
        cls = extend(base, keywords, type_checker=types)  # type: ignore[no-untyped-call]
        checker = _format_checker(options) if options.assert_formats else None
        self._validator: JsonschemaValidator = cls(
            schema, registry=registry, format_checker=checker,
        )
        self._schema = schema
        _check_references(schema, registry, base_uri)
        try:
            for probe in _PROBES:
                self._validator.is_valid(probe)
        except RecursionError:
            raise SchemaError("the schema refers to itself without end (a $ref or $dynamicRef "
                              "loop that reads no part of the payload)") from None

    def failures(self, payload: Any) -> list[Failure]:
        out: list[Failure] = []
        try:
            for error in self._validator.iter_errors(payload):
                out.extend(_convert(error, self._validator))
        except RecursionError:
            # jsonschema spends several frames per level: a payload within the nesting limit
            # can still be too deep for it under a recursive schema.
            return [Failure(Code.VALIDATION_ERROR, (), None,
                            "The payload nests too deep for this schema to be checked",
                            keyword="maxDepth")]
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
                for name in _additional(instance, schema)]
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
        false_branches = [i for i, sub in enumerate(value) if sub is False]
        for sub_error in error.context:
            where = sub_error.relative_schema_path
            # A `false` branch's error has no schema path of its own to name its branch.
            index = int(where[0]) if where else false_branches[0] if false_branches else 0
            branches[index].extend(_convert(sub_error, validator))
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


def _unique_failure(path: Path, instance: list[Any]) -> Failure:
    seen: dict[Any, int] = {}
    for index, item in enumerate(instance):
        first = seen.setdefault(json_key(item), index)
        if first != index:
            return kw.not_unique(path, instance, first, index)
    return kw.not_unique(path, instance, 0, 0)


def _is_valid_sub(validator: Any, schema: Any, instance: Any) -> bool:
    return bool(validator.evolve(schema=schema).is_valid(instance))
