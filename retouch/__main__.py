"""`python -m retouch` is the `retouch` command."""

from retouch.cli import main

main()
