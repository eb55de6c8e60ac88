"""`python -m validator` runs the `validator` command."""

from .cli import main

main()
