"""OpenAPI import: turns the request bodies and query parameters of OpenAPI 3.0/3.1
documents into the engine's JSON Schemas, plus a rules layer for what a document does not
say (see openapi/README.md)."""

from .._exceptions import OpenAPIError, RulesError
from ._importer import ImportResult, Operation, generate, import_documents, sync_folder
from ._overlay import apply_rules, load_rules

__all__ = [
    "ImportResult",
    "OpenAPIError",
    "Operation",
    "RulesError",
    "apply_rules",
    "generate",
    "import_documents",
    "load_rules",
    "sync_folder",
]
