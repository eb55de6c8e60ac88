"""The engine's rules: schemas compiled to closures (`_compile`), the failure each broken
keyword yields (`_keywords`), the table of the engine's own keywords and formats (`_dialect`),
formats and the e-mail fast path, the quick test in Rust in front of the engine (`_quick`),
the jsonschema-backed fallback, the paths MX checks read (`_mx_paths`), and query strings.

The public API (`validator.Validator`) is the way in. The names below are the room's face:
read-only facts about schemas and addresses that other rooms (batch mapping and MX paths, web
routes) may use; everything else here is private to the room.
"""

from ._account_rules import with_account
from ._email import email_ascii_domain, email_syntax_error
from ._mx_paths import EVERY_ITEM, MXPath, values_at
from ._query import QueryShape, is_query_schema
from ._quick import stricter_schema
from ._schema_view import INTEGER_TEXT, NUMBER_TEXT, SchemaView

__all__ = [
    "EVERY_ITEM",
    "INTEGER_TEXT",
    "NUMBER_TEXT",
    "MXPath",
    "QueryShape",
    "SchemaView",
    "email_ascii_domain",
    "email_syntax_error",
    "is_query_schema",
    "stricter_schema",
    "values_at",
    "with_account",
]
