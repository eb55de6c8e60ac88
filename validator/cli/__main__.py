"""`python -m validator.cli` runs the `validator` command."""

from ._main import main

main()
