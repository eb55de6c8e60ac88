"""OpenAPI 3.0 / 3.1 documents → engine schemas (JSON Schema 2020-12), one per request body and
one per operation's query parameters.

Any API's document works. What the translation does, and why:

* ``$ref``s into ``components`` are inlined, so that every generated schema stands alone (a
  user can copy one file) and the compiler's fast paths see plain objects. A schema that refers
  to itself is the exception: it goes to ``$defs`` and keeps its ``$ref``.
* OpenAPI 3.0 specifics become 2020-12: ``nullable`` adds ``"null"`` to the type (or an
  ``anyOf`` with null when there is no type), a boolean ``exclusiveMinimum``/``Maximum`` becomes
  the numeric form, ``example`` becomes ``examples``; ``discriminator``, ``xml``,
  ``externalDocs`` and ``x-`` extensions are dropped, as are formats that only describe storage
  (``int32``, ``double``, ``binary`` …), which JSON Schema does not know.
* ``readOnly`` properties are left out of request bodies (and out of ``required``): the server
  sets them, a client never sends them.
* An ``allOf`` whose parts are all plain objects (properties, required, type object) is merged
  into one object, which is what it means; any other ``allOf`` is kept as it is.
* Query parameters become one object schema with ``"validationType": "query"`` at its root.
  A name with brackets nests: ``query[createdOn][from]`` → ``query.createdOn.from``.

Names are ``<resource>.<operation>`` (``contacts.create``, ``contacts.upsert-tags``), the query
schema of an operation is ``<resource>.<operation>.query``; see :func:`operation_name`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .._exceptions import OpenAPIError
from .._registry import ROUTE_KEY as ROUTE
from ._bundle import bundle, read_any
from ._validity import check_document

DIALECT = "https://json-schema.org/draft/2020-12/schema"
# An annotation on each generated schema: the request it checks ("POST /contacts"), from which
# the web adapters build their routes.
METHODS = ("get", "put", "post", "patch", "delete")
# Formats OpenAPI uses for storage sizes and encodings; JSON Schema has no such formats, and
# an engine that asserts formats must not trip over them.
_STORAGE_FORMATS = frozenset({"int32", "int64", "float", "double", "byte", "binary", "password"})
_DROPPED = frozenset({"discriminator", "xml", "externalDocs", "nullable", "example"})
_PREPOSITIONS = frozenset({"from", "by", "to", "for", "in", "of", "with", "on"})
_VERB_FOR = {"post": "create", "put": "update", "patch": "update", "delete": "delete"}


@dataclass(slots=True)
class Operation:
    """One operation of a document, with what the importer made of it."""

    method: str
    path: str
    operation_id: str | None
    resource: str
    name: str
    body: dict[str, Any] | None = None
    query: dict[str, Any] | None = None
    source: str = ""


def load_document(path: str | Path) -> dict[str, Any]:
    """Read an OpenAPI document from JSON or YAML, bundle the local files its ``$ref``s reach
    (``_bundle``) and check that it is valid OpenAPI (``_validity``)."""
    file = Path(path)
    document = read_any(file)
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3."):
        raise OpenAPIError(f"{file} is not an OpenAPI 3.x document (no 'openapi: 3.x' field)")
    if not isinstance(document.get("paths"), dict):
        raise OpenAPIError(f"{file} has no 'paths'")
    document, origins = bundle(document, file)
    check_document(document, file, origins)
    return document


# -- names -------------------------------------------------------------------------------


def _words(identifier: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", identifier)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    return [w.lower() for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _resource_of(path: str) -> str:
    for segment in path.strip("/").split("/"):
        if segment and not segment.startswith("{"):
            return segment.lower()
    return "root"


def operation_name(method: str, path: str, operation_id: str | None) -> str:
    """``<resource>.<operation>``: the resource is the path's first segment; the operation is
    the operationId in kebab case, without the resource's noun right after the verb or at the
    end (``createContact`` → ``create``, ``upsertTags`` → ``upsert-tags``, ``getContactList``
    → ``list``, ``getContactById`` → ``get``). Without an operationId the method and the path
    name it (``POST /contacts`` → ``create``, ``GET /contacts/{id}`` → ``get``)."""
    resource = _resource_of(path)
    noun = [_singular(w) for w in _words(resource)]
    if operation_id:
        words = _words(operation_id)
        single = [_singular(w) for w in words]
        size = len(noun)
        if size and single[1:1 + size] == noun and len(words) > size:
            words = words[:1] + words[1 + size:]
            single = single[:1] + single[1 + size:]
        # "createBatchContacts" → "create-batch", but "getContactsFromCampaign" keeps its noun.
        if size and len(words) > size and single[-size:] == noun \
                and words[-size - 1] not in _PREPOSITIONS:
            words = words[:-size]
        if words[-2:] == ["by", "id"]:
            words = words[:-2]
        if words in (["get", "list"], ["list"]):
            words = ["list"]
        operation = "-".join(words)
    else:
        segments = [s for s in path.strip("/").split("/") if s]
        item = bool(segments) and segments[-1].startswith("{")
        rest = [s.lower() for s in segments[1:] if not s.startswith("{")]
        if method == "get":
            verb = "get" if item else "list"
        else:
            verb = _VERB_FOR.get(method, method) if rest or not item or method != "post" \
                else "update"
        operation = "-".join([verb, *rest])
    return f"{resource}.{operation}"


# -- translation -------------------------------------------------------------------------


class _Translator:
    """Translates the schemas of one document, resolving its local ``$ref``s."""

    def __init__(self, document: Mapping[str, Any], source: str) -> None:
        self.document = document
        self.source = source
        self.version = str(document.get("openapi", "3.0"))
        self.defs: dict[str, Any] = {}
        self._stack: list[str] = []

    def resolve(self, ref: str) -> tuple[str, Any]:
        if not ref.startswith("#/"):  # bundling made every reference local
            raise OpenAPIError(f"{self.source}: $ref {ref!r} is not a JSON pointer")
        node: Any = self.document
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                raise OpenAPIError(f"{self.source}: $ref {ref!r} points at nothing")
            node = node[part]
        return ref.rsplit("/", 1)[1], node

    def follow(self, node: Any) -> Any:
        """A parameter, request body or response object behind (a chain of) ``$ref``s."""
        for _ in range(32):
            if not isinstance(node, Mapping) or "$ref" not in node:
                return node
            node = self.resolve(node["$ref"])[1]
        raise OpenAPIError(f"{self.source}: a $ref chain does not end")

    def schema(self, node: Any) -> Any:
        if isinstance(node, bool):
            return node
        if not isinstance(node, Mapping):
            raise OpenAPIError(f"{self.source}: a schema must be an object, got {node!r}")
        if "$ref" in node:
            ref = node["$ref"]
            name, target = self.resolve(ref)
            key = ref
            if key in self._stack:
                # Recursion: the one case that keeps a reference.
                self.defs.setdefault(name, None)
                return {"$ref": f"#/$defs/{name}"}
            self._stack.append(key)
            try:
                translated = self.schema(target)
            finally:
                self._stack.pop()
            if name in self.defs and self.defs[name] is None:
                self.defs[name] = translated
                return {"$ref": f"#/$defs/{name}"}
            if self.version.startswith("3.1") and len(node) > 1:
                # 3.1 allows siblings next to $ref; 3.0 ignores them.
                siblings = self.schema({k: v for k, v in node.items() if k != "$ref"})
                return _merge_all_of([translated, siblings]) \
                    or {"allOf": [translated, siblings]}
            return copy.deepcopy(translated)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _DROPPED or key.startswith("x-"):
                continue
            if key in ("properties", "patternProperties", "$defs", "definitions",
                       "dependentSchemas"):
                out[key] = {name: self.schema(sub)
                            for name, sub in value.items()}
            elif key in ("items", "additionalProperties", "not", "contains",
                         "propertyNames", "additionalItems", "if", "then", "else",
                         "unevaluatedItems", "unevaluatedProperties"):
                if isinstance(value, list):  # draft-4 style tuple items
                    out["prefixItems"] = [self.schema(v) for v in value]
                else:
                    out[key] = self.schema(value)
            elif key in ("allOf", "anyOf", "oneOf", "prefixItems"):
                out[key] = [self.schema(v) for v in value]
            elif key == "format" and value in _STORAGE_FORMATS:
                continue
            elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
                bound = "minimum" if key == "exclusiveMinimum" else "maximum"
                if value and bound in node:
                    out[key] = node[bound]
            elif key in ("minimum", "maximum") and node.get(f"exclusive{key[:1].upper()}"
                                                             f"{key[1:]}") is True:
                continue
            else:
                out[key] = copy.deepcopy(value)
        if "example" in node and "examples" not in node:
            out["examples"] = [copy.deepcopy(node["example"])]
        if "allOf" in out:
            out = _flatten(out)
        if node.get("nullable") is True:
            out = _nullable(out)
        return out

    def finish(self, schema: Any, title: str, route: str) -> dict[str, Any]:
        root: dict[str, Any] = {"$schema": DIALECT, "title": title, ROUTE: route}
        schema = copy.deepcopy(schema)
        _drop_read_only(schema)
        if isinstance(schema, bool):
            schema = {} if schema else {"not": {}}
        root.update(schema)
        defs = {name: copy.deepcopy(value) for name, value in self.defs.items()
                if value is not None}
        for value in defs.values():
            _drop_read_only(value)
        if defs:
            root["$defs"] = {**root.get("$defs", {}), **defs}
        self.defs = {}
        return root


def _drop_read_only(node: Any) -> set[str]:
    """Leave read-only properties out of a request schema, and out of ``required`` wherever
    they are listed: OpenAPI says a required read-only property is required in responses only.
    The parts of an ``allOf`` describe one object, so a name one part drops is dropped from the
    ``required`` of every part. Returns the names dropped at this level."""
    if isinstance(node, list):
        for item in node:
            _drop_read_only(item)
        return set()
    if not isinstance(node, dict):
        return set()
    dropped: set[str] = set()
    properties = node.get("properties")
    if isinstance(properties, dict):
        dropped = {name for name, sub in properties.items()
                   if isinstance(sub, dict) and sub.get("readOnly") is True}
        node["properties"] = {k: v for k, v in properties.items() if k not in dropped}
        for sub in node["properties"].values():
            _drop_read_only(sub)
    for key, value in node.items():
        if key == "allOf" and isinstance(value, list):
            for part in value:
                dropped |= _drop_read_only(part)
        elif key not in ("properties", "enum", "const", "examples", "default", "required"):
            if isinstance(value, dict) and key in ("$defs", "patternProperties",
                                                   "dependentSchemas"):
                for sub in value.values():
                    _drop_read_only(sub)
            elif isinstance(value, dict | list):
                _drop_read_only(value)
    if dropped:
        for holder in [node, *(p for p in node.get("allOf", []) if isinstance(p, dict))]:
            if isinstance(holder.get("required"), list):
                holder["required"] = [r for r in holder["required"] if r not in dropped]
                if not holder["required"]:
                    del holder["required"]
    return dropped


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    declared = schema.get("type")
    if isinstance(declared, str):
        schema["type"] = [declared, "null"]
    elif isinstance(declared, list):
        if "null" not in declared:
            schema["type"] = [*declared, "null"]
    else:
        annotations: dict[str, Any] = {k: schema.pop(k) for k in
                                       ("description", "title", "examples") if k in schema}
        schema = {**annotations, "anyOf": [schema, {"type": "null"}]}
    if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    return schema


_ANNOTATIONS = frozenset({"title", "description", "examples", "default", "deprecated",
                          "readOnly", "writeOnly", "$comment"})
# Keywords whose meaning depends on their siblings: two parts that each carry one of these
# cannot be merged into one schema without changing what passes.
_CONTEXTUAL = frozenset({"additionalProperties", "patternProperties", "unevaluatedProperties",
                         "unevaluatedItems", "$dynamicRef", "$ref"})
_GROUPS = (frozenset({"if", "then", "else"}), frozenset({"items", "prefixItems"}),
           frozenset({"contains", "minContains", "maxContains"}))


def _flatten(schema: dict[str, Any]) -> dict[str, Any]:
    """``allOf`` → one schema when its parts constrain different things: the same instances
    pass and fail (``properties`` and ``required`` of the parts apply independently). Parts
    that interact (``additionalProperties``, two ``if``s …) keep their ``allOf``."""
    own = {k: v for k, v in schema.items() if k != "allOf"}
    merged = _merge_all_of([own, *schema["allOf"]])
    return schema if merged is None else merged


def _merge_all_of(parts: list[Any]) -> dict[str, Any] | None:
    merged: dict[str, Any] = {}
    for part in parts:
        if not isinstance(part, dict) or _CONTEXTUAL & part.keys():
            return None
        for group in _GROUPS:
            if group & part.keys() and group & merged.keys():
                return None
        for key, value in part.items():
            if key not in merged:
                merged[key] = copy.deepcopy(value)
            elif key in _ANNOTATIONS:
                continue
            elif key == "properties":
                for name, sub in value.items():
                    if name in merged[key] and merged[key][name] != sub:
                        return None
                    merged[key][name] = sub
            elif key == "required":
                merged[key] += [r for r in value if r not in merged[key]]
            elif merged[key] != value:
                return None
    return merged


# -- operations --------------------------------------------------------------------------


def _json_body(translator: _Translator, operation: Mapping[str, Any]) -> Any | None:
    body = translator.follow(operation.get("requestBody"))
    if not isinstance(body, Mapping):
        return None
    content = body.get("content") or {}
    for media, entry in content.items():
        kind = media.split(";")[0].strip().lower()
        if (kind == "application/json" or kind.endswith("+json")) \
                and isinstance(entry, Mapping) and "schema" in entry:
            return entry["schema"]
    return None


def _query_schema(translator: _Translator, parameters: list[Any]) -> dict[str, Any] | None:
    root: dict[str, Any] = {"type": "object", "properties": {}}
    for raw in parameters:
        parameter = translator.follow(raw)
        if not isinstance(parameter, Mapping) or parameter.get("in") != "query":
            continue
        name = parameter.get("name")
        if not isinstance(name, str) or not name:
            raise OpenAPIError(f"{translator.source}: a query parameter has no name")
        schema = translator.schema(parameter.get("schema", {}))
        if isinstance(schema, dict) and parameter.get("description") \
                and "description" not in schema:
            schema = {"description": parameter["description"], **schema}
        keys = [p for p in re.split(r"[\[\]]+", name) if p]
        node = root
        for key in keys[:-1]:
            child = node["properties"].setdefault(key, {"type": "object", "properties": {}})
            node = child
        node["properties"][keys[-1]] = schema
        if parameter.get("required") is True:
            node.setdefault("required", []).append(keys[-1])
    return root if root["properties"] else None


def operations(document: Mapping[str, Any], source: str = "") -> Iterator[Operation]:
    """Every operation of the document that takes a JSON body or query parameters."""
    translator = _Translator(document, source)
    for path, item in document.get("paths", {}).items():
        item = translator.follow(item)
        if not isinstance(item, Mapping):
            continue
        shared = list(item.get("parameters", []))
        for method in METHODS:
            operation = item.get(method)
            if not isinstance(operation, Mapping):
                continue
            operation_id = operation.get("operationId")
            found = Operation(method, path, operation_id, _resource_of(path),
                              operation_name(method, path, operation_id), source=source)
            route = f"{method.upper()} {path}"
            title = f"{operation.get('summary') or operation_id or ''}: {route}".lstrip(": ")
            body = _json_body(translator, operation)
            if body is not None:
                found.body = translator.finish(translator.schema(body), title, route)
            # Operation parameters override path-level ones of the same name and place.
            merged: dict[tuple[str, str], Any] = {}
            for raw in [*shared, *operation.get("parameters", [])]:
                parameter = translator.follow(raw)
                if isinstance(parameter, Mapping):
                    merged[(str(parameter.get("name")), str(parameter.get("in")))] = parameter
            query = _query_schema(translator, list(merged.values()))
            if query is not None:
                found.query = translator.finish({"validationType": "query", **query},
                                                f"Query parameters of {title}", route)
            if found.body is None and found.query is None:
                continue
            yield found


# -- several documents -------------------------------------------------------------------


@dataclass(slots=True)
class ImportResult:
    """What an import produced: schemas by name, the operations they came from, and the
    operations left out (a later document repeating an earlier one's operation)."""

    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: list[Operation] = field(default_factory=list)
    skipped: list[tuple[Operation, str]] = field(default_factory=list)


def import_documents(paths: list[str | Path], names: Mapping[str, str] | None = None
                     ) -> ImportResult:
    """Import several documents; the first that defines an operation (by method and path, or
    by name) wins, so list the authoritative document first. ``names`` renames operations:
    ``operationId`` (or ``METHOD /path``) → full schema name."""
    names = dict(names or {})
    result = ImportResult()
    seen: dict[tuple[str, str], Operation] = {}
    by_name: dict[str, Operation] = {}
    for path in paths:
        document = load_document(path)
        # The folder too: two documents are often both called openapi.json.
        source = "/".join(Path(path).parts[-2:])
        for op in operations(document, source):
            op.name = names.get(op.operation_id or "") \
                or names.get(f"{op.method.upper()} {op.path}") or op.name
            earlier = seen.get((op.method, op.path))
            if earlier is not None:
                result.skipped.append((op, f"{earlier.source} defines it already"))
                continue
            first = by_name.get(op.name)
            if first is not None and first.source == source:
                raise OpenAPIError(
                    f"{source}: {op.method.upper()} {op.path} and {first.method.upper()} "
                    f"{first.path} would both be named {op.name!r}; rename one "
                    "(a 'names' entry in the rules)")
            if first is not None:
                result.skipped.append((op, f"{first.source} defines {op.name} already"))
                continue
            by_name[op.name] = op
            seen[(op.method, op.path)] = op
            result.operations.append(op)
            if op.body is not None:
                result.schemas[op.name] = op.body
            if op.query is not None:
                result.schemas[f"{op.name}.query"] = op.query
    return result


# -- files -------------------------------------------------------------------------------

GENERATED = "Generated by `validator schemas import-openapi`"


def render(schema: Mapping[str, Any], source: str) -> bytes:
    """The file for one schema: a marker first (so a later import knows the file is its own),
    then the schema, indented, with a final newline."""
    marked = {"$schema": schema.get("$schema", DIALECT),
              "$comment": f"{GENERATED} from {source}; change the rules file, not this file.",
              **{k: v for k, v in schema.items() if k not in ("$schema", "$comment")}}
    return orjson.dumps(marked, option=orjson.OPT_INDENT_2) + b"\n"


def is_generated(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(400)
    except OSError:
        return False
    return GENERATED.encode() in head


@dataclass(slots=True)
class Sync:
    """How a folder differs from what an import produces."""

    written: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    @property
    def drift(self) -> bool:
        return bool(self.changed or self.missing or self.stale)


def sync_folder(files: Mapping[str, bytes], folder: str | Path, *, check: bool = False) -> Sync:
    """Write ``name → content`` as ``<name>.json`` into ``folder`` and remove generated files
    the import no longer produces (hand-written files are left alone). With ``check``, change
    nothing and report the differences."""
    out = Path(folder)
    sync = Sync()
    if not check:
        out.mkdir(parents=True, exist_ok=True)
    for name, content in sorted(files.items()):
        target = out / f"{name}.json"
        try:
            current = target.read_bytes()
        except OSError:
            current = None
        if current == content:
            continue
        (sync.missing if current is None else sync.changed).append(name)
        if not check:
            temporary = target.with_name(f".{target.name}.tmp")
            temporary.write_bytes(content)
            temporary.replace(target)
            sync.written.append(name)
    if out.is_dir():
        for path in sorted(out.glob("*.json")):
            name = path.name.removesuffix(".json")
            if name not in files and is_generated(path):
                sync.stale.append(name)
                if not check:
                    path.unlink()
    return sync


def generate(paths: list[str | Path], rules: Mapping[str, Any] | None = None
             ) -> tuple[ImportResult, dict[str, bytes]]:
    """Import the documents, apply the rules layer, and render every schema's file."""
    from ._overlay import apply_rules

    rules = rules or {}
    result = import_documents(paths, names=rules.get("names"))
    schemas = apply_rules(result.schemas, rules)
    sources = {op.name: op for op in result.operations}
    files = {}
    for name, schema in schemas.items():
        op = sources[name.removesuffix(".query")]
        where = f"{op.source}, {op.method.upper()} {op.path}"
        files[name] = render(schema, where)
    return result, files
