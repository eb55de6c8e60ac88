"""The public entry points: `Validator` (compiled once, used many times), `validate` and
`Result`. Data flows one way: payload → compiled rules → failures (+ deliverability) →
one aggregated error."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, Unpack

import orjson

from ._aggregate import aggregate, order
from ._catalog import DEFAULT_CATALOG, Code
from ._exceptions import SchemaError
from ._options import OptionKeywords, ValidationOptions
from ._registry import SchemaRegistry, add_schema_check, check_schema, default_registry
from ._results import Failure, Path, Result
from .rules._account_rules import with_account
from .rules._compile import Compiler, Unsupported
from .rules._dialect import MX_PENDING, check_keywords
from .rules._email import email_ascii_domain, email_syntax_error
from .rules._fallback import FallbackEngine
from .rules._mx_paths import MXPath, mx_paths, values_at
from .rules._query import QueryShape, is_query_schema, mark_query
from .rules._quick import MAX_DEPTH, QuickCheck, is_plain_json, quick_check, too_deep
from .rules._ref_loops import check_reference_loops
from .rules._schema_view import SchemaView

if TYPE_CHECKING:
    from .dns import DomainVerdict, MXChecker

# Registration refuses bad values of the engine's keywords, not only validation.
add_schema_check(check_keywords)

Payload = Mapping[str, Any] | list[Any] | str | bytes | bytearray | memoryview | Any



_Staged = tuple[Any, list[Failure], list[tuple[Path, str, str]]]


def _domains(staged: list[_Staged]) -> set[str]:
    return {domain for _, _, pending in staged for _, _, domain in pending}


_VALID = Result((), None)
_Engine = Callable[[Any], list[Failure]]
_Built = tuple[_Engine, QuickCheck | None, tuple[MXPath, ...], bool]

_K = TypeVar("_K")
_V = TypeVar("_V")


class _LRU(Generic[_K, _V]):
    """A bounded cache, least recently used out first: keys hold user format functions by
    identity, so a caller passing a new function each call must not grow it without end."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[_K, _V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: _K) -> _V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: _K, value: _V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


ENGINE_CACHE_SIZE = 64
"""Compiled engines kept for named schemas (per registry, version and rule options)."""
VALIDATOR_CACHE_SIZE = 64
"""Validators `validate()` keeps for named schemas (per options, registry and MX checker)."""
_engines: _LRU[tuple[Any, ...], _Built] = _LRU(ENGINE_CACHE_SIZE)


def _build(schema: Any, base_uri: str, registry: SchemaRegistry,
           options: ValidationOptions) -> _Built:
    """The engine, the quick test that lets most valid payloads skip it, and the paths whose
    addresses MX checks look up. With MX checks the quick test only stands in for the engine
    when those paths are exactly where the `mx` rules look (then the addresses are read from
    them). Last, whether the engine reports failures in payload order already. The account's
    rules are written into the schema first, so that every one of them carries them."""
    if options.account is not None:
        schema = with_account(schema, options.account, options.phone_region)
    try:
        found = mx_paths(_view(schema, base_uri, registry)) if options.check_mx else None
        quick = None if found is not None and not found.exact else quick_check(
            schema, assert_formats=options.assert_formats,
            custom_formats=frozenset(options.formats))
        paths = found.paths if found is not None else ()
        engine, in_order = _build_engine(schema, base_uri, registry, options)
        return engine, quick, paths, in_order
    except RecursionError:
        # Registration bounds a schema's depth only as far as the metaschema check reaches:
        # data nested in it (a `const` hundreds deep) can outrun the compiler's stack.
        raise SchemaError("the schema nests too deep to be compiled") from None


def _build_engine(schema: Any, base_uri: str, registry: SchemaRegistry, options: ValidationOptions
                  ) -> tuple[_Engine, bool]:
    resources = registry.resources()
    check_reference_loops(schema, resources, base_uri)
    compiler = Compiler(resources, options)
    try:
        node = compiler.compile_root(schema, base_uri)
    except Unsupported:
        from referencing.jsonschema import DRAFT202012

        resource = DRAFT202012.create_resource(schema)
        uri = base_uri or resource.id() or ""
        fallback = FallbackEngine(schema, resources.with_resource(uri, resource), options, uri)
        return fallback.failures, False
    if node is None:
        return lambda payload: [], True

    def run(payload: Any) -> list[Failure]:
        out: list[Failure] = []
        node(payload, (), out)
        return out

    return run, compiler.in_payload_order


# Payloads the validator parses itself: what comes out is JSON data by construction.
_TEXT = (str, bytes, bytearray, memoryview)


def _parse(payload: Any) -> tuple[Any, Failure | None]:
    if isinstance(payload, _TEXT):
        try:
            return orjson.loads(payload), None
        except orjson.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno} (char {exc.pos})"
            return None, Failure(Code.VALIDATION_ERROR, (), None,
                                 f"Malformed JSON: {exc.msg} at {where}", keyword="json")
    return payload, None


def _nests_too_deep(payload: Any, data: Any) -> bool:
    # A text cannot nest deeper than it has brackets, so most texts skip the walk.
    if isinstance(payload, str):
        if payload.count("[") + payload.count("{") <= MAX_DEPTH:
            return False
    elif isinstance(payload, bytes | bytearray) \
            and payload.count(b"[") + payload.count(b"{") <= MAX_DEPTH:
        return False
    return too_deep(data)


def _view(document: Any, base_uri: str, registry: SchemaRegistry) -> SchemaView:
    # An inline schema is not in the registry: added under a name of its own, so that its
    # local $refs resolve too.
    from referencing.jsonschema import DRAFT202012

    uri = base_uri or "urn:validator:inline"
    resources = registry.resources().with_resource(uri, DRAFT202012.create_resource(document))
    return SchemaView(document, uri, resources)


class Validator:
    """A schema compiled once, with the options it is checked under.

    `schema` is a registered name (`"contacts.create"`) or a JSON Schema document. Options
    come as a `ValidationOptions`, as the README's keywords (`always_combine=True`,
    `check_mx=True, dns_timeout=1.0` ...), or both (the keywords win). `mx_checker` shares an
    MX checker (and its cache) between validators; otherwise one is built from `options.dns`.
    """

    def __init__(
        self,
        schema: str | Mapping[str, Any] | bool,
        options: ValidationOptions | None = None,
        *,
        registry: SchemaRegistry | None = None,
        mx_checker: MXChecker | None = None,
        **keywords: Unpack[OptionKeywords],
    ) -> None:
        self.options = options = ValidationOptions.build(options, **keywords)
        self.registry = registry or default_registry()
        self.built_version = self.registry.version
        self.catalog = options.catalog or DEFAULT_CATALOG
        self.always_combine = options.always_combine
        self.check_mx = options.check_mx
        if isinstance(schema, str):
            self.schema_name: str | None = schema
            document, base_uri = self.registry.get(schema)
            key = (self.registry.serial, self.registry.version, schema, options.rules_key())
            built = _engines.get(key)
            if built is None:
                built = _build(document, base_uri, self.registry, options)
                _engines.put(key, built)
        else:
            self.schema_name = None
            document, base_uri = dict(schema) if isinstance(schema, Mapping) else schema, ""
            check_schema("inline", document)
            built = _build(document, base_uri, self.registry, options)
        engine, self._quick, self._mx_paths, self._in_order = built
        self.schema = document
        self._parse: Callable[[Any], tuple[Any, Failure | None]] = _parse
        self.query_shape: QueryShape | None = None
        """For a query schema: how a query string becomes the object the schema checks."""
        if is_query_schema(document):
            # Query parameters arrive as text: parsed and converted to the declared types
            # first, and every failure is about the query, not the body.
            self.query_shape = shape = QueryShape(_view(document, base_uri, self.registry))
            body_engine = engine
            self._parse = lambda raw: (shape.payload(raw), None)

            def engine(data: Any) -> list[Failure]:
                return mark_query(body_engine(data))
        self._engine = engine
        self._mx_checker = mx_checker
        if options.check_mx and mx_checker is None:
            self._mx_checker = options.dns.checker()

    @property
    def mx_paths(self) -> tuple[MXPath, ...]:
        """Where the schema's `mx` rules look addresses up (``("contacts", EVERY_ITEM,
        "email")`` for every item of an array); empty without MX checks, when nothing is
        looked up."""
        return self._mx_paths

    @property
    def is_query(self) -> bool:
        """Whether the schema checks a query string rather than a body."""
        return self.query_shape is not None

    # -- one payload ---------------------------------------------------------------------

    def validate(self, payload: Payload, *, plain: bool = False) -> Result:
        """Check one payload (a dict, or JSON text/bytes) and say what the API would answer.

        For a query schema (``contacts.list.query``) the payload is the query: a query string
        (``"page=2&query[email]=a@b.c"``), a mapping of parameter names to values, or the
        nested object itself.

        `plain=True` promises that a dict or list payload holds JSON data only, as a JSON
        parser makes it (dicts, lists, str, int, float, bool, None); it saves a walk over the
        payload before the quick test. Text payloads never need it."""
        if not self.check_mx:
            data, parse_failure = self._parse(payload)
            if parse_failure is not None:
                return self._result([parse_failure])
            text = isinstance(payload, _TEXT)
            # Text is measured first (by its brackets, mostly); other payloads only when the
            # quick test, which also bounds their depth, does not let them through.
            if text and _nests_too_deep(payload, data):
                return self._result(self._too_deep())
            shallow = text
            if not text and not plain and is_plain_json(data, MAX_DEPTH):
                # The walk the quick test needs also bounds the depth: done once, here.
                plain = shallow = True
            quick = self._quick
            if quick is not None and (plain or text) and quick(data, True, shallow):
                return _VALID
            if not shallow and too_deep(data):
                return self._result(self._too_deep())
            failures = self._engine(data)
            if not failures:
                return _VALID
            return self._result(failures if self._in_order else order(failures, data))
        return self.validate_many([payload], plain=plain)[0]

    async def validate_async(self, payload: Payload) -> Result:
        return (await self.validate_many_async([payload]))[0]

    # -- many payloads -------------------------------------------------------------------

    def validate_many(self, payloads: Iterable[Payload], *,
                      verdicts: Mapping[str, DomainVerdict] | None = None,
                      plain: bool = False) -> list[Result]:
        """Check a chunk of payloads; the distinct e-mail domains of the whole chunk are
        looked up once, concurrently, before any payload is judged.

        `verdicts` (keyed by ASCII domain) are answers the caller already has, e.g. a batch
        run that resolved its domains up front: then no lookup is made, and a domain missing
        from them counts as not checked (1010).

        `plain=True` promises that the payloads are JSON data as a parser makes them (dicts,
        lists, str, int, float, bool, None, nothing else), which saves a walk over each."""
        staged = [self._stage(p, plain) for p in payloads]
        if verdicts is None:
            domains = _domains(staged)
            verdicts = self._mx_checker.check_many(domains) \
                if domains and self._mx_checker is not None else {}
        return [self._finish(stage, verdicts) for stage in staged]

    async def validate_many_async(self, payloads: Iterable[Payload]) -> list[Result]:
        staged = [self._stage(p) for p in payloads]
        domains = _domains(staged)
        verdicts: Mapping[str, DomainVerdict] = {}
        if domains and self._mx_checker is not None:
            verdicts = await self._mx_checker.check_many_async(domains)
        return [self._finish(stage, verdicts) for stage in staged]

    def _stage(self, payload: Payload, plain: bool = False) -> _Staged:
        data, parse_failure = self._parse(payload)
        if parse_failure is not None:
            return None, [parse_failure], []
        text = isinstance(payload, _TEXT)
        if text and _nests_too_deep(payload, data):
            return None, self._too_deep(), []
        shallow = text
        if not text and not plain and is_plain_json(data, MAX_DEPTH):
            plain = shallow = True
        quick = self._quick
        if quick is not None and (plain or text) and quick(data, True, shallow):
            return data, [], self._addresses(data) if self.check_mx else []
        if not shallow and too_deep(data):
            return None, self._too_deep(), []
        if not self.check_mx:
            return data, self._engine(data), []
        pending: list[tuple[Path, str]] = []
        token = MX_PENDING.set(pending)
        try:
            failures = self._engine(data)
        finally:
            MX_PENDING.reset(token)
        return data, failures, [(path, addr, email_ascii_domain(addr)) for path, addr in pending]

    def _too_deep(self) -> list[Failure]:
        """The one entry for a payload past the nesting limit."""
        failure = Failure(Code.VALIDATION_ERROR, (), None,
                          f"The payload nests objects and arrays deeper than {MAX_DEPTH} levels",
                          keyword="maxDepth")
        return mark_query([failure]) if self.query_shape is not None else [failure]

    def _addresses(self, data: Any) -> list[tuple[Path, str, str]]:
        """For a payload the quick test accepted: the addresses its `mx` rules look up, as
        the engine would list them (well-formed ones only)."""
        found: list[tuple[Path, str, str]] = []
        for mx_path in self._mx_paths:
            for path, value in values_at(data, mx_path):
                if isinstance(value, str) and email_syntax_error(value) is None:
                    found.append((path, value, email_ascii_domain(value)))
        return found

    def _finish(self, stage: _Staged, verdicts: Mapping[str, DomainVerdict]) -> Result:
        data, failures, pending = stage
        found = len(failures)
        for path, address, domain in pending:
            verdict = verdicts.get(domain)
            if verdict is not None and verdict.status == "deliverable":
                continue
            if verdict is not None and verdict.status == "undeliverable":
                failures.append(Failure(Code.FORBIDDEN_STATE, path, address,
                                        f"The address cannot receive mail: {verdict.reason}",
                                        keyword="mx"))
            else:
                # No answer is never a pass (SPEC §3): the check could not be made.
                reason = verdict.reason if verdict is not None else \
                    f"no DNS answer for {domain} was available"
                failures.append(Failure(Code.EXTERNAL_ERROR, path, address,
                                        f"Deliverability could not be checked: {reason}",
                                        keyword="mx"))
        if not failures:
            return _VALID
        if self._in_order and len(failures) == found:
            return self._result(failures)
        return self._result(order(failures, data))

    def _result(self, failures: list[Failure]) -> Result:
        error = aggregate(failures, self.catalog, always_combine=self.always_combine)
        return Result(error.failures if error is not None else (), error)

    def __repr__(self) -> str:
        return f"Validator({self.schema_name or 'inline schema'!r})"


_validators: _LRU[tuple[Any, ...], Validator] = _LRU(VALIDATOR_CACHE_SIZE)


_DEFAULT_OPTIONS = ValidationOptions()
_DEFAULT_KEY = _DEFAULT_OPTIONS.key()


def validate(payload: Payload, schema: str | Mapping[str, Any] | bool,
             options: ValidationOptions | None = None, *, plain: bool = False,
             registry: SchemaRegistry | None = None, mx_checker: MXChecker | None = None,
             **keywords: Unpack[OptionKeywords]) -> Result:
    """Check one payload against a schema (a registered name or a schema document), under
    `options` and/or the README's keywords; `registry` and `mx_checker` as for `Validator`.

    Validators for named schemas are cached, so repeated calls cost a dictionary lookup.
    `plain=True` is `Validator.validate`'s promise that a dict or list holds JSON data only.
    """
    if options is None and not keywords:
        # The common call: no options object to build or key to compute per payload.
        resolved, options_key = _DEFAULT_OPTIONS, _DEFAULT_KEY
    else:
        resolved = ValidationOptions.build(options, **keywords)
        options_key = resolved.key()
    if not isinstance(schema, str):
        return Validator(schema, resolved, registry=registry,
                         mx_checker=mx_checker).validate(payload, plain=plain)
    key = (schema, options_key, id(registry), id(mx_checker))
    validator = _validators.get(key)
    if validator is None or validator.registry.version != validator.built_version \
            or (validator._mx_checker is not mx_checker and mx_checker is not None):
        validator = Validator(schema, resolved, registry=registry, mx_checker=mx_checker)
        _validators.put(key, validator)
    return validator.validate(payload, plain=plain)
