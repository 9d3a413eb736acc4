"""trackio: Hugging Face's local-first tracker, one SQLite file per project (see reader.py)."""
