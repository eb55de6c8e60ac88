"""External ``$ref``s between local files → one document.

A document split over files (``$ref: components.yaml#/components/schemas/Order``,
``$ref: ./order.json``) is bundled before it is checked and translated: each file it refers to,
directly or through another, is placed under the root key ``x-bundled`` (a specification
extension, so the bundle is still a valid document), and every reference is rewritten to point
there. A reference is resolved against the file that holds it, as JSON Reference says. Only
files are read: a reference to a URL is refused, the importer never goes to the network.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from .._exceptions import OpenAPIError

BUNDLED = "x-bundled"


def read_any(file: Path) -> Any:
    """A JSON or YAML file's content."""
    import orjson

    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise OpenAPIError(f"cannot read {file}: {exc.strerror}") from exc
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        import yaml

        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise OpenAPIError(f"{file} is neither JSON nor YAML: {exc}") from exc


class _Bundler:
    def __init__(self, main: Path) -> None:
        self.main = main
        self.keys: dict[Path, str] = {main: ""}
        """Each file → its key under ``x-bundled`` ("" for the main document)."""
        self.parts: dict[str, Any] = {}
        self.origins: dict[str, Path] = {}

    def key_of(self, file: Path, holder: Path) -> str:
        key = self.keys.get(file)
        if key is not None:
            return key
        if not file.is_file():
            raise OpenAPIError(f"{holder}: $ref to {file}, which does not exist")
        key = file.stem.replace("~", "-").replace("/", "-") or "file"
        taken = set(self.keys.values())
        number = 2
        while key in taken:
            key, number = f"{file.stem}-{number}", number + 1
        self.keys[file] = key
        self.origins[key] = file
        self.parts[key] = None  # claimed before the walk: files may refer to each other
        self.parts[key] = self.rewrite(read_any(file), file)
        return key

    def rewrite(self, node: Any, here: Path) -> Any:
        if isinstance(node, list):
            return [self.rewrite(item, here) for item in node]
        if not isinstance(node, dict):
            return node
        out = {k: self.rewrite(v, here) for k, v in node.items() if k != "$ref"}
        ref = node.get("$ref")
        if "$ref" in node:
            out["$ref"] = self.reference(ref, here) if isinstance(ref, str) else ref
        return out

    def reference(self, ref: str, here: Path) -> str:
        address, _, pointer = ref.partition("#")
        if "://" in address or address.startswith("//"):
            raise OpenAPIError(f"{here}: $ref {ref!r} is remote; the importer reads only local "
                               "files (download it and refer to the copy)")
        target = here if not address else (here.parent / address).resolve()
        key = self.key_of(target, here)
        if pointer and not pointer.startswith("/"):
            raise OpenAPIError(f"{here}: $ref {ref!r} is not a JSON pointer")
        return f"#/{BUNDLED}/{key}{pointer}" if key else f"#{pointer}"


def bundle(document: dict[str, Any], path: str | Path) -> tuple[dict[str, Any], dict[str, Path]]:
    """``document`` (read from ``path``) with the files its ``$ref``s reach placed under
    ``x-bundled``; and each of those keys → the file it came from. A document without
    external references comes back as it is."""
    main = Path(path).resolve()
    bundler = _Bundler(main)
    if not _has_external(document):
        return document, {}
    out = bundler.rewrite(copy.deepcopy(document), main)
    if bundler.parts:
        existing = out.get(BUNDLED)
        if existing is not None:
            raise OpenAPIError(f"{path}: the document has its own {BUNDLED!r} key, which "
                               "bundling its external $refs needs")
        out[BUNDLED] = bundler.parts
    return out, bundler.origins


def _has_external(node: Any) -> bool:
    if isinstance(node, list):
        return any(_has_external(item) for item in node)
    if not isinstance(node, dict):
        return False
    ref = node.get("$ref")
    if isinstance(ref, str) and not ref.startswith("#"):
        return True
    return any(_has_external(v) for k, v in node.items() if k != "$ref")
