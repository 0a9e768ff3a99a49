"""``python -m filmcolor`` runs the command line."""

from .cli import main

main()
