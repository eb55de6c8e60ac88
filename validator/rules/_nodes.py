"""The shape of a compiled rule, shared by the compiler and the keyword table: a node is
`node(value, path, out)`, where `path` is a cons cell `(parent_path, key)` (the root is `()`)
flattened into a tuple only when a failure is reported, so the valid path allocates almost
nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._results import Failure, Path

Cell = tuple[Any, ...]
Node = Callable[[Any, Cell, list[Failure]], None]


def flat(cell: Cell) -> Path:
    if cell and not cell[0]:
        return (cell[1],)  # a key of the root: the common case, without the loop
    parts: list[str | int] = []
    while cell:
        cell, key = cell
        parts.append(key)
    parts.reverse()
    return tuple(parts)
