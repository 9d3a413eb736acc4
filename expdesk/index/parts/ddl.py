"""The tables and views of parts and runs (migration `m023_parts`).

A *part* is a row of `runs`: what one reader read in one folder, with its own key, cursor and series. A
*run* is one training job. Most runs are one part, whose rows pass through untouched; for a run joined from
several parts, the merged values live in the `joined_*` tables (written by `expdesk.index.parts.build`
after every write batch). Queries on runs read `run_rows` (one row per run, kept by triggers on `runs`,
`parts` and `joined_runs`) and the views `run_params`, `run_tags`, `run_metrics` (a lone part's rows, or a
joined run's merged rows), never `runs` and its per-part tables, so every consumer sees runs. Filters and
sorts over many runs pick the per-part or the joined table per row (`run_rows.joined`) instead of going
through the views: measured in `benchmarks/bench_query.py`.
"""

from __future__ import annotations

PARTS_SQL = """
CREATE INDEX runs_path ON runs(path);
CREATE INDEX runs_native ON runs(native_id);
CREATE INDEX links_target_id ON links(target_native_id);
CREATE INDEX links_target_path ON links(target_path);
CREATE TABLE finals (
    run_key TEXT NOT NULL,
    key TEXT NOT NULL,
    value REAL,
    exact BLOB NOT NULL,
    source TEXT,
    PRIMARY KEY (run_key, key)
);
CREATE TABLE parts (
    part_key TEXT PRIMARY KEY,
    run_key TEXT NOT NULL,
    rule TEXT NOT NULL,
    evidence TEXT NOT NULL DEFAULT '{}',
    label TEXT NOT NULL,
    rank INTEGER NOT NULL
);
CREATE INDEX parts_run ON parts(run_key);
CREATE TABLE part_choices (
    part_key TEXT PRIMARY KEY,
    choice TEXT NOT NULL,
    anchor TEXT,
    made_at REAL NOT NULL
);
CREATE INDEX part_choices_anchor ON part_choices(anchor);
CREATE TABLE join_notes (
    key TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX join_notes_key ON join_notes(key);
CREATE TABLE joined_runs (
    key TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    name TEXT,
    experiment TEXT,
    status TEXT NOT NULL,
    native_status TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    start_time REAL,
    end_time REAL,
    last_activity REAL,
    error TEXT,
    formats TEXT NOT NULL,
    info TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE joined_params (
    run_key TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    num REAL,
    part_key TEXT NOT NULL,
    PRIMARY KEY (run_key, key)
);
CREATE INDEX joined_params_key ON joined_params(key, num);
CREATE TABLE joined_tags (
    run_key TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    part_key TEXT NOT NULL,
    PRIMARY KEY (run_key, key)
);
CREATE TABLE joined_metrics (
    run_key TEXT NOT NULL,
    key TEXT NOT NULL,
    series_id INTEGER,
    part_key TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    first_step INTEGER,
    last_step INTEGER,
    last REAL,
    min REAL,
    max REAL,
    argmin_step INTEGER,
    argmax_step INTEGER,
    nan_count INTEGER NOT NULL DEFAULT 0,
    last_timestamp REAL,
    exact BLOB,
    final REAL,
    final_exact BLOB,
    final_source TEXT,
    PRIMARY KEY (run_key, key)
);
CREATE INDEX joined_metrics_key ON joined_metrics(key);
"""

_JOINED = "CASE WHEN j.key IS NULL THEN r.{0} ELSE j.{0} END"
#: the columns of `run_rows`, and how each is made from a part's row and its joined run's
_RUN_ROW = (
    ("key", "r.key"),
    ("format", "r.format"),
    ("formats", "COALESCE(j.formats, r.format)"),
    ("path", _JOINED.format("path")),
    ("root", "r.root"),
    ("store", "r.store"),
    ("native_id", "r.native_id"),
    ("name", _JOINED.format("name")),
    ("experiment", _JOINED.format("experiment")),
    ("status", _JOINED.format("status")),
    ("native_status", _JOINED.format("native_status")),
    ("deleted", _JOINED.format("deleted")),
    ("gone", "r.gone"),
    ("start_time", _JOINED.format("start_time")),
    ("end_time", _JOINED.format("end_time")),
    ("last_activity", _JOINED.format("last_activity")),
    ("parent_native_id", "r.parent_native_id"),
    ("parent_key", "r.parent_key"),
    ("error", _JOINED.format("error")),
    ("joined", "j.key IS NOT NULL"),
    ("joined_info", "j.info"),
)


def _refresh(key: str) -> str:
    """The statements that make `run_rows` right for one part key (its row, or none when it is a part of
    another run)."""
    columns = ", ".join(name for name, _ in _RUN_ROW)
    values = ", ".join(expr for _, expr in _RUN_ROW)
    return (
        f"DELETE FROM run_rows WHERE key = {key};\n"
        f"INSERT INTO run_rows ({columns}) SELECT {values} FROM runs r LEFT JOIN joined_runs j ON j.key = r.key"
        f" WHERE r.key = {key} AND NOT EXISTS (SELECT 1 FROM parts m WHERE m.part_key = r.key"
        " AND m.run_key <> r.key);"
    )


# `run_rows` is a table kept by triggers, not a view: the runs table's scans, filters and sorts read one
# narrow row per run (no cursor or info JSON), which measured faster than `runs` itself, where a view over
# `runs` LEFT JOIN `joined_runs` made the planner scan by index and doubled filter times at 100k runs.
RUN_VIEWS_SQL = f"""
CREATE TABLE run_rows (
    key TEXT PRIMARY KEY,
    format TEXT NOT NULL,
    formats TEXT NOT NULL,
    path TEXT NOT NULL,
    root TEXT NOT NULL,
    store TEXT,
    native_id TEXT,
    name TEXT,
    experiment TEXT,
    status TEXT NOT NULL,
    native_status TEXT,
    deleted INTEGER NOT NULL,
    gone INTEGER NOT NULL,
    start_time REAL,
    end_time REAL,
    last_activity REAL,
    parent_native_id TEXT,
    parent_key TEXT,
    error TEXT,
    joined INTEGER NOT NULL,
    joined_info TEXT
);
CREATE INDEX run_rows_root ON run_rows(root);
CREATE INDEX run_rows_parent ON run_rows(parent_key);
INSERT INTO run_rows ({", ".join(n for n, _ in _RUN_ROW)})
SELECT {", ".join(e for _, e in _RUN_ROW)} FROM runs r LEFT JOIN joined_runs j ON j.key = r.key
WHERE NOT EXISTS (SELECT 1 FROM parts m WHERE m.part_key = r.key AND m.run_key <> r.key);
CREATE TRIGGER run_rows_insert AFTER INSERT ON runs BEGIN {_refresh("NEW.key")} END;
CREATE TRIGGER run_rows_update AFTER UPDATE ON runs BEGIN {_refresh("NEW.key")} END;
CREATE TRIGGER run_rows_delete AFTER DELETE ON runs BEGIN DELETE FROM run_rows WHERE key = OLD.key; END;
CREATE TRIGGER run_rows_part_in AFTER INSERT ON parts BEGIN {_refresh("NEW.part_key")} END;
CREATE TRIGGER run_rows_part_out AFTER DELETE ON parts BEGIN {_refresh("OLD.part_key")} END;
CREATE TRIGGER run_rows_part_moved AFTER UPDATE ON parts BEGIN {_refresh("OLD.part_key")} {_refresh("NEW.part_key")} END;
CREATE TRIGGER run_rows_joined_in AFTER INSERT ON joined_runs BEGIN {_refresh("NEW.key")} END;
CREATE TRIGGER run_rows_joined_out AFTER DELETE ON joined_runs BEGIN {_refresh("OLD.key")} END;
CREATE TRIGGER run_rows_joined_set AFTER UPDATE ON joined_runs BEGIN {_refresh("NEW.key")} END;

CREATE VIEW run_params AS
SELECT p.run_key AS run_key, p.key AS key, p.value AS value, p.num AS num, p.run_key AS part_key
FROM params p WHERE NOT EXISTS (SELECT 1 FROM joined_runs j WHERE j.key = p.run_key)
UNION ALL
SELECT run_key, key, value, num, part_key FROM joined_params;

CREATE VIEW run_tags AS
SELECT t.run_key AS run_key, t.key AS key, t.value AS value, t.run_key AS part_key
FROM tags t WHERE NOT EXISTS (SELECT 1 FROM joined_runs j WHERE j.key = t.run_key)
UNION ALL
SELECT run_key, key, value, part_key FROM joined_tags;

CREATE VIEW run_metrics AS
SELECT s.run_key AS run_key, s.key AS key, s.id AS series_id, s.run_key AS part_key, s.count AS count,
    s.first_step AS first_step, s.last_step AS last_step, s.last AS last, s.min AS min, s.max AS max,
    s.argmin_step AS argmin_step, s.argmax_step AS argmax_step, s.nan_count AS nan_count,
    s.last_timestamp AS last_timestamp, s.exact AS exact, f.value AS final, f.exact AS final_exact,
    f.source AS final_source
FROM series s LEFT JOIN finals f ON f.run_key = s.run_key AND f.key = s.key
WHERE NOT EXISTS (SELECT 1 FROM joined_runs j WHERE j.key = s.run_key)
UNION ALL
SELECT f.run_key, f.key, NULL, f.run_key, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL,
    f.value, f.exact, f.source
FROM finals f
WHERE NOT EXISTS (SELECT 1 FROM series s WHERE s.run_key = f.run_key AND s.key = f.key)
    AND NOT EXISTS (SELECT 1 FROM joined_runs j WHERE j.key = f.run_key)
UNION ALL
SELECT run_key, key, series_id, part_key, count, first_step, last_step, last, min, max, argmin_step,
    argmax_step, nan_count, last_timestamp, exact, final, final_exact, final_source
FROM joined_metrics;

CREATE VIEW part_runs AS
SELECT r.key AS part_key, COALESCE(m.run_key, r.key) AS run_key
FROM runs r LEFT JOIN parts m ON m.part_key = r.key;
"""
