"""The engine's rules: schemas compiled to closures (`_compile`), the failure each broken
keyword yields (`_keywords`), formats and the e-mail fast path, the quick test in Rust in
front of the engine (`_quick`), the jsonschema-backed fallback, and query strings.

The public API (`validator.Validator`) is the way in. The names below are the room's face:
read-only facts about schemas and addresses that other rooms (batch mapping, web routes)
may use; everything else here is private to the room.
"""

from ._email import email_ascii_domain, email_syntax_error
from ._query import QueryShape, is_query_schema
from ._schema_view import INTEGER_TEXT, NUMBER_TEXT, SchemaView

__all__ = [
    "INTEGER_TEXT",
    "NUMBER_TEXT",
    "QueryShape",
    "SchemaView",
    "email_ascii_domain",
    "email_syntax_error",
    "is_query_schema",
]
