"""Named schemas: the ones shipped with the package, plus any a user registers (a dict, a file
or a folder of `*.json`). Schemas can `$ref` one another by their `$id` or file name."""

from __future__ import annotations

import itertools
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import referencing
from jsonschema.validators import Draft202012Validator, validator_for
from jsonschema_specifications import REGISTRY as METASCHEMAS
from referencing.jsonschema import DRAFT202012

from ._exceptions import SchemaError, UnknownSchema

ROUTE_KEY = "x-route"
"""The annotation of a generated schema that names its operation (`"POST /contacts"`): written
by the OpenAPI import, read by the web adapters' default routes."""

SHIPPED_BASE = "https://getresponse-validator.invalid/schemas/"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

try:  # optional, as for the quick test: without it jsonschema checks every schema
    import jsonschema_rs

    _rust_meta: Any = jsonschema_rs.meta
    _rust_meta_error: Any = jsonschema_rs.ValidationError
except ImportError:  # pragma: no cover - exercised only where the wheel is missing
    _rust_meta = None
    _rust_meta_error = Exception


def _shipped_dir() -> Path:
    here = Path(__file__).resolve().parent
    # Installed from a wheel the schemas live inside the package; in a source checkout
    # (or an editable install) they are the top-level `schemas/` folder.
    for candidate in (here / "schemas", here.parent / "schemas"):
        if candidate.is_dir() and any(candidate.glob("*.json")):
            return candidate
    raise SchemaError(f"the shipped schemas are missing (looked in {here / 'schemas'})")


def _load(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except OSError as exc:
        raise SchemaError(f"cannot read schema file {path}: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise SchemaError(f"schema file {path} is not valid JSON: {exc}") from exc


def dialect_of(schema: Any) -> Any:
    """jsonschema's validator class for the schema's `$schema`; a custom metaschema (one
    jsonschema does not know) is read as draft 2020-12, which is what the engine does too."""
    if not isinstance(schema, dict):
        return Draft202012Validator
    with warnings.catch_warnings():
        # jsonschema warns about unknown metaschemas; falling back to 2020-12 is intended.
        warnings.simplefilter("ignore", DeprecationWarning)
        return validator_for(schema, default=Draft202012Validator)


_checks: list[Callable[[Any], None]] = []


def add_schema_check(check: Callable[[Any], None]) -> None:
    """One more check every registered or inline schema must pass (it raises `SchemaError`):
    how the engine's own keywords are checked at registration, by the layer that knows them."""
    if check not in _checks:
        _checks.append(check)


def check_schema(name: str, schema: Any) -> None:
    """Refuse a schema that is not valid JSON Schema, or whose engine keywords have values the
    engine cannot use, naming what is wrong."""
    if not isinstance(schema, dict | bool):
        raise SchemaError(f"schema {name!r} must be a JSON object or boolean")
    cls = dialect_of(schema)
    if _rust_meta is not None and cls is Draft202012Validator and (
            not isinstance(schema, dict) or schema.get("$schema", DRAFT_2020_12).rstrip("#")
            == DRAFT_2020_12):
        # jsonschema's own check takes time quadratic in the number of subschemas (100,000
        # properties: minutes); jsonschema-rs reads the same 2020-12 metaschema in linear time.
        try:
            _rust_meta.validate(schema)
        except _rust_meta_error as exc:
            where = "/".join(str(part) for part in exc.instance_path)
            raise SchemaError(f"schema {name!r} is not a valid JSON Schema: {exc.message}"
                              f" (at #/{where})") from None
        except RecursionError as exc:
            raise SchemaError(f"schema {name!r} nests too deep to be checked") from exc
        except UnicodeEncodeError:
            # A lone surrogate (json.loads lets "\ud800" through) cannot be handed to Rust;
            # jsonschema's own check below reads it.
            pass
        else:
            cls = None
    try:
        # Patterns are compiled (and refused) by the compiler, which also knows \p{...}.
        if cls is not None:
            cls.check_schema(schema, format_checker=None)
    except RecursionError as exc:
        raise SchemaError(f"schema {name!r} nests too deep to be checked") from exc
    except Exception as exc:
        message = getattr(exc, "message", str(exc))
        raise SchemaError(f"schema {name!r} is not a valid JSON Schema: {message}") from exc
    for check in _checks:
        try:
            check(schema)
        except SchemaError as exc:
            raise SchemaError(f"schema {name!r}: {exc}") from exc


_SERIALS = itertools.count()


class SchemaRegistry:
    """Schemas by name. Thread-safe; `version` changes whenever a schema is added."""

    def __init__(self, *, shipped: bool = True) -> None:
        self._schemas: dict[str, tuple[Any, str]] = {}
        self._lock = threading.Lock()
        self.version = 0
        # Unique for the life of the process (an id() is reused once the registry is freed):
        # what the compiled-engine cache keys on, with `version`.
        self.serial = next(_SERIALS)
        self._resources: referencing.Registry[Any] | None = None
        if shipped:
            self.register_dir(_shipped_dir(), base=SHIPPED_BASE)

    def register(self, name: str, schema: Any, *, base_uri: str | None = None,
                 check: bool = True) -> None:
        if check:
            check_schema(name, schema)
        uri = base_uri or (schema.get("$id") if isinstance(schema, dict) else None) \
            or f"{SHIPPED_BASE}user/{name}.json"
        with self._lock:
            self._schemas[name] = (schema, uri)
            self._resources = None
            self.version += 1

    def register_file(self, path: str | Path, name: str | None = None) -> str:
        file = Path(path)
        name = name or file.name.removesuffix(".json")
        schema = _load(file)
        self.register(name, schema, base_uri=file.resolve().as_uri())
        return name

    def register_path(self, path: str | Path) -> list[str]:
        """A schema file, or every `*.json` file of a folder: the one way a user's path
        becomes registered schemas (the API, `--schemas` and batch workers all use it)."""
        if Path(path).is_dir():
            return self.register_dir(path)
        return [self.register_file(path)]

    def register_dir(self, path: str | Path, *, base: str | None = None) -> list[str]:
        folder = Path(path)
        if not folder.is_dir():
            raise SchemaError(f"schema folder {folder} does not exist")
        names = []
        for file in sorted(folder.glob("*.json")):
            if base is None:
                names.append(self.register_file(file))
                continue
            name = file.name.removesuffix(".json")
            # The shipped schemas are checked against the metaschema by the tests (and are
            # generated); checking 55 of them again in every process would cost ~0.3 s.
            self.register(name, _load(file), base_uri=f"{base}{file.name}",
                          check=base != SHIPPED_BASE)
            names.append(name)
        return names

    def names(self) -> list[str]:
        return sorted(n for n in self._schemas if not n.startswith("_"))

    def __contains__(self, name: object) -> bool:
        return name in self._schemas

    def get(self, name: str) -> tuple[Any, str]:
        """The schema and its base URI."""
        try:
            return self._schemas[name]
        except KeyError:
            raise UnknownSchema(name, self.names()) from None

    def resources(self) -> referencing.Registry[Any]:
        """Every registered schema as a `referencing` resource, plus the metaschemas."""
        with self._lock:
            if self._resources is None:
                pairs = [(uri, DRAFT202012.create_resource(schema))
                         for schema, uri in self._schemas.values()]
                self._resources = METASCHEMAS.with_resources(pairs).crawl()
            return self._resources


_default: SchemaRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> SchemaRegistry:
    global _default
    with _default_lock:
        if _default is None:
            _default = SchemaRegistry()
        return _default
