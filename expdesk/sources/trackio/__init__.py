"""Trackio (Hugging Face's local-first tracker): one SQLite file per project, read in place and read-only."""

from expdesk.sources.trackio.reader import READER

__all__ = ["READER"]
