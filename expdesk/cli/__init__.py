"""The command line: `expdesk COMMAND ...` runs one job without Qt; plain `expdesk` opens the app."""

from expdesk.cli.entry import main

__all__ = ["main"]
