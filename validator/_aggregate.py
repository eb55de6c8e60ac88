"""Failures → one error body, as SPEC §4 says: one code → that code; several codes → 1000.
Entries are ordered by where the failing values stand in the payload, then by rule order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._catalog import Code, ErrorCatalog
from ._results import ApiError, Failure, Path, new_uuid

_VALIDATION_ERROR = Code.VALIDATION_ERROR


def payload_position(payload: Any, path: Path,
                     _indexes: dict[int, dict[Any, int]] | None = None) -> tuple[int, ...]:
    """Where `path` stands in the payload: the index of each key in its object's own order,
    or the array index. A missing key sorts after every key its object has.

    `_indexes` memoises each object's key order across the calls of one `order()`.
    """
    position = []
    node = payload
    for key in path:
        if isinstance(node, dict):
            if _indexes is None:
                _indexes = {}
            index_of = _indexes.get(id(node))
            if index_of is None:
                index_of = _indexes[id(node)] = {k: i for i, k in enumerate(node)}
            position.append(index_of.get(key, len(node)))
            node = node.get(key) if isinstance(key, str) else None
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            position.append(key)
            node = node[key]
        else:
            position.append(1 << 30)
            node = None
    return tuple(position)


def order(failures: Sequence[Failure], payload: Any) -> list[Failure]:
    if len(failures) < 2:
        return list(failures)
    indexes: dict[int, dict[Any, int]] = {}
    # sorted() is stable, so failures of one value keep their rule order.
    return sorted(failures, key=lambda f: payload_position(payload, f.field_name, indexes))


def _message(failures: Sequence[Failure], code: int) -> str:
    if len(failures) == 1:
        only = failures[0]
        where = ".".join(str(k) for k in only.field_name) or "body"
        return f"{where}: {only.description}"
    return f"Validation error ({len(failures)} failures), see context section for more information"


def aggregate(
    failures: Sequence[Failure],
    catalog: ErrorCatalog,
    *,
    always_combine: bool = False,
) -> ApiError | None:
    """The body for already-ordered failures; None when there are none."""
    if not failures:
        return None
    code = failures[0].code
    if always_combine:
        code = _VALIDATION_ERROR
    else:
        # Compared, not put in a set: hashing an IntEnum member runs Python code.
        for f in failures:
            if f.code != code:
                code = _VALIDATION_ERROR
                break
    entry = catalog[code]
    return ApiError(entry.http_status, code, entry.title, _message(failures, code),
                    catalog.more_info(code), [f.to_context() for f in failures],
                    new_uuid(), tuple(failures))


def single_error(code: int, catalog: ErrorCatalog, message: str,
                 context: list[dict[str, Any]] | dict[str, Any]) -> ApiError:
    """A body that is not built from validation failures (faults, headers, limits)."""
    entry = catalog[code]
    return ApiError(entry.http_status, code, entry.title, message, catalog.more_info(code),
                    context)
