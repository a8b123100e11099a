"""`python -m lkbridge` is the `lkbridge` command."""

from lkbridge.cli.entry import main

main()
