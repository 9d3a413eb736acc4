"""The tables and views of parts and runs (migration `m023_parts`).

A *part* is a row of `runs`: what one reader read in one folder, with its own key, cursor and series. A
*run* is one training job. Most runs are one part, and the views pass that part's rows through untouched;
for a run joined from several parts, the merged values live in the `joined_*` tables (written by
`expdesk.index.parts.build` after every write batch) and the views show those instead. Queries on runs go
through the views (`run_rows`, `run_params`, `run_tags`, `run_metrics`), never through `runs` and its
per-part tables, so every consumer sees runs.

Why views over materialised tables and not one table per run: a joined run is rare (a few per job folder)
and most runs would copy every row of theirs for nothing. The views cost one primary-key probe per row
(`NOT EXISTS ... parts`, `NOT EXISTS ... joined_runs`), measured in `benchmarks/bench_query.py`.
"""

from __future__ import annotations

PARTS_SQL = """
CREATE INDEX runs_path ON runs(path);
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

_JOINED = "CASE WHEN j.key IS NULL THEN r.{0} ELSE j.{0} END AS {0}"

RUN_VIEWS_SQL = f"""
CREATE VIEW run_rows AS
SELECT r.key AS key, r.format AS format, {_JOINED.format("path")}, r.root AS root, r.store AS store,
    r.native_id AS native_id, {_JOINED.format("name")}, {_JOINED.format("experiment")},
    {_JOINED.format("status")}, {_JOINED.format("native_status")}, {_JOINED.format("deleted")},
    r.gone AS gone, {_JOINED.format("start_time")}, {_JOINED.format("end_time")},
    {_JOINED.format("last_activity")}, r.parent_native_id AS parent_native_id,
    COALESCE((SELECT m.run_key FROM parts m WHERE m.part_key = r.parent_key), r.parent_key) AS parent_key,
    r.info AS info, {_JOINED.format("error")}, r.fingerprint AS fingerprint, r.indexed_at AS indexed_at,
    r.first_seen AS first_seen, COALESCE(j.formats, r.format) AS formats, j.key IS NOT NULL AS joined,
    j.info AS joined_info
FROM runs r LEFT JOIN joined_runs j ON j.key = r.key
WHERE NOT EXISTS (SELECT 1 FROM parts m WHERE m.part_key = r.key AND m.run_key <> r.key);

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
