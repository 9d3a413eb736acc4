"""The SQLite index: schema + migrations, the single writer thread, read-only readers, the indexer."""

import sys


def _import_sqlite_utils_without_pandas() -> None:
    """Import sqlite-utils while pandas is hidden, unless pandas is loaded already.

    sqlite-utils imports pandas at module level only to accept DataFrame values in inserts, which the index
    never passes; pandas is the largest import at start-up (about a second on a loaded machine), and the
    CLI and the main window must not pay for it before a comparison needs it (benchmarks/bench_startup.py).
    A `None` entry in sys.modules makes that one `import pandas` fail as if it were not installed; the
    entry is removed right after, so later `import pandas` works normally.
    """
    if "pandas" in sys.modules or "sqlite_utils" in sys.modules:
        return
    sys.modules["pandas"] = None  # type: ignore[assignment]
    try:
        import sqlite_utils.db  # noqa: F401
    finally:
        if sys.modules.get("pandas", 0) is None:
            del sys.modules["pandas"]


_import_sqlite_utils_without_pandas()
