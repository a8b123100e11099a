"""`python -m lkbridge` is the `lkbridge` command."""

from lkbridge.cli.main import main

main()
