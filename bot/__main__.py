"""`python -m bot` is the `healthbot` command."""

from bot.cli import main

main()
