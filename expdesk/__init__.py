"""expdesk: a local, read-only experiment tracker for ML run folders."""

__version__ = "0.1.0"
