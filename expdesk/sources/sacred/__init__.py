"""sacred."""
