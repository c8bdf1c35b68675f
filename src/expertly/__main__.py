"""`python -m expertly` runs the CLI."""

from expertly.cli.main import main

main()
