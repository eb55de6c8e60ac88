"""The jsonschema-backed engine, for schemas the compiler does not implement (dynamic
references, `unevaluated*`, older drafts). Slower, but the same failures: every jsonschema
error is turned into failures by the same builders the compiler uses (`_keywords`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
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
from ._compile import MX_PENDING, json_key, words_regex
from ._email import email_syntax_error
from ._formats import FORMATS, check_phone


class _EngineError(ValidationError):
    """Carries an engine keyword's failure through jsonschema; the path is only known once
    jsonschema has placed the error, so the failure is built from it later."""

    build: Callable[[Path], Failure]


def _string_keyword(rule: Callable[[Any, str], Callable[[Path], Failure] | None]) -> Any:
    def keyword(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if isinstance(instance, str):
            build = rule(value, instance)
            if build is not None:
                error = _EngineError(instance)
                error.build = build
                yield error

    return keyword


def _not_blank(value: Any, instance: str) -> Callable[[Path], Failure] | None:
    if value is True and instance and instance.isspace():
        return lambda path: kw.blank(path, instance)
    return None


def _reserved(value: Any, instance: str) -> Callable[[Path], Failure] | None:
    if instance.casefold() in {w.casefold() for w in value}:
        return lambda path: kw.reserved_word(path, instance)
    return None


def _forbidden_words(value: Any, instance: str) -> Callable[[Path], Failure] | None:
    match = words_regex(value).search(instance)
    if match is None:
        return None
    return lambda path: kw.forbidden_word(path, instance, match.group())


def _forbidden_chars(value: Any, instance: str) -> Callable[[Path], Failure] | None:
    for char in instance:
        if char in value:
            return lambda path: kw.forbidden_character(path, instance, char)
    return None


def _no_emoji(value: Any, instance: str) -> Callable[[Path], Failure] | None:
    match = kw.EMOJI.search(instance) if value is True else None
    if match is None:
        return None
    return lambda path: kw.emoji(path, instance, match.group())


def _mx(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[Any]:
    if value is True and isinstance(instance, str) and email_syntax_error(instance) is None:
        pending = MX_PENDING.get()
        if pending is not None:
            # The path is not known here; `_MXMarker` lets `_convert` attach it.
            yield _MXMarker(instance)


class _MXMarker(ValidationError):
    pass


def _format_checker(options: ValidationOptions) -> FormatChecker:
    checker = FormatChecker()
    for name, check in {**FORMATS, **options.formats}.items():
        if check is check_phone and options.phone_region:
            region = options.phone_region

            def check_with_region(value: object, _region: str = region) -> bool:
                return not isinstance(value, str) or check_phone(value, _region) is None

            checker.checks(name)(check_with_region)
            continue

        def conforms(value: object, _check: Any = check) -> bool:
            return not isinstance(value, str) or _check(value) is None

        checker.checks(name)(conforms)
    return checker


class FallbackEngine:
    def __init__(self, schema: Any, registry: referencing.Registry[Any], options: ValidationOptions
                 ) -> None:
        base = dialect_of(schema)
        keywords = {
            "notBlank": _string_keyword(_not_blank),
            "reservedWords": _string_keyword(_reserved),
            "forbiddenWords": _string_keyword(_forbidden_words),
            "forbiddenCharacters": _string_keyword(_forbidden_chars),
            "noEmoji": _string_keyword(_no_emoji),
        }
        if options.check_mx:
            keywords["mx"] = _mx
        cls = extend(base, keywords)  # type: ignore[no-untyped-call]
        checker = _format_checker(options) if options.assert_formats else None
        self._validator: JsonschemaValidator = cls(
            schema, registry=registry, format_checker=checker,
        )
        self._schema = schema

    def failures(self, payload: Any) -> list[Failure]:
        out: list[Failure] = []
        pending = MX_PENDING.get()
        for error in self._validator.iter_errors(payload):
            if isinstance(error, _MXMarker):
                if pending is not None:
                    pending.append((tuple(error.absolute_path), error.message))
                continue
            out.extend(_convert(error, self._validator))
        return _dedupe(out)

    def is_valid(self, payload: Any) -> bool:
        return not self.failures(payload)


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

    if isinstance(error, _EngineError):
        return [error.build(path)]
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
        check = FORMATS.get(value)
        message = (check(instance) if check and isinstance(instance, str) else None) or \
            error.message
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
        return kw.no_branch_matches(path, instance, [b for b in branches if b], keyword)
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
