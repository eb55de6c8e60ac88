"""The `validator` command (`validator.cli:main`): validate, check, schemas, codes, serve."""

from ._main import main

__all__ = ["main"]
