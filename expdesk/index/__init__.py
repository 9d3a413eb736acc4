"""The SQLite index: schema + migrations, the single writer thread, read-only readers, the indexer."""
