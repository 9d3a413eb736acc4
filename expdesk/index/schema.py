"""Schema of the index DB, only ever changed through migrations (sqlite-utils `Migrations`).

The runs/params/series/... tables are a cache of the run folders: they can be rebuilt at any time.
`annotations` and `user_tags` hold the user's own data, keyed by the stable run key and deliberately
without foreign keys, so a rebuilt cache keeps stars, notes and tags.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from expdesk.index.parts.ddl import PARTS_SQL, RUN_VIEWS_SQL

MIGRATIONS = Migrations("expdesk")


@MIGRATIONS()
def m001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE runs (
            key TEXT PRIMARY KEY,
            format TEXT NOT NULL,
            path TEXT NOT NULL,
            root TEXT NOT NULL,
            store TEXT,
            native_id TEXT,
            name TEXT,
            experiment TEXT,
            status TEXT NOT NULL DEFAULT 'unknown',
            native_status TEXT,
            deleted INTEGER NOT NULL DEFAULT 0,
            gone INTEGER NOT NULL DEFAULT 0,
            start_time REAL,
            end_time REAL,
            last_activity REAL,
            parent_native_id TEXT,
            parent_key TEXT,
            info TEXT NOT NULL DEFAULT '{}',
            error TEXT,
            fingerprint TEXT,
            cursor TEXT NOT NULL DEFAULT '{}',
            indexed_at REAL,
            first_seen REAL
        );
        CREATE INDEX runs_root ON runs(root);
        CREATE INDEX runs_store_native ON runs(store, native_id);
        CREATE TABLE params (
            run_key TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            num REAL,
            PRIMARY KEY (run_key, key)
        );
        CREATE INDEX params_key ON params(key, num);
        CREATE TABLE tags (
            run_key TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (run_key, key)
        );
        CREATE TABLE series (
            id INTEGER PRIMARY KEY,
            run_key TEXT NOT NULL,
            key TEXT NOT NULL,
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
            UNIQUE (run_key, key)
        );
        CREATE INDEX series_key ON series(key);
        CREATE TABLE chunks (
            series_id INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            n INTEGER NOT NULL,
            steps BLOB NOT NULL,
            vals BLOB NOT NULL,
            ts BLOB NOT NULL,
            PRIMARY KEY (series_id, seq)
        ) WITHOUT ROWID;
        CREATE TABLE artifacts (
            run_key TEXT NOT NULL,
            path TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (run_key, path)
        );
        CREATE TABLE files (
            run_key TEXT NOT NULL,
            direction TEXT NOT NULL,
            role TEXT NOT NULL,
            path TEXT NOT NULL,
            local TEXT,
            size INTEGER,
            digests TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX files_run ON files(run_key);
        CREATE TABLE links (
            run_key TEXT NOT NULL,
            rule TEXT NOT NULL,
            target_native_id TEXT,
            target_path TEXT,
            target_key TEXT,
            evidence TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX links_run ON links(run_key);
        CREATE TABLE roots (
            path TEXT PRIMARY KEY,
            added_at REAL NOT NULL,
            network INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE hashes (
            dev INTEGER NOT NULL,
            ino INTEGER NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            PRIMARY KEY (dev, ino, size, mtime_ns)
        ) WITHOUT ROWID;
        CREATE TABLE annotations (
            run_key TEXT PRIMARY KEY,
            starred INTEGER NOT NULL DEFAULT 0,
            note TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE user_tags (
            run_key TEXT NOT NULL,
            tag TEXT NOT NULL,
            PRIMARY KEY (run_key, tag)
        );
        """
    )


@MIGRATIONS()
def m021_media(db: Database) -> None:
    # A run's media series (key + kind) and one row per logged item saying where its bytes live (a span of
    # an event file, a media file): the bytes themselves are never copied into the index. `step` is NULL for
    # a step-less item; items of one series and step keep their write order by id.
    db.executescript(
        """
        CREATE TABLE media_series (
            id INTEGER PRIMARY KEY,
            run_key TEXT NOT NULL,
            key TEXT NOT NULL,
            kind TEXT NOT NULL,
            count INTEGER NOT NULL DEFAULT 0,
            UNIQUE (run_key, key, kind)
        );
        CREATE TABLE media_items (
            id INTEGER PRIMARY KEY,
            series_id INTEGER NOT NULL,
            step INTEGER,
            file TEXT NOT NULL,
            offset INTEGER NOT NULL DEFAULT 0,
            length INTEGER NOT NULL DEFAULT -1,
            codec TEXT NOT NULL DEFAULT 'raw',
            wall_time REAL,
            mime TEXT,
            meta TEXT NOT NULL DEFAULT '{}',
            error TEXT
        );
        CREATE INDEX media_items_series_step ON media_items(series_id, step, id);
        """
    )


@MIGRATIONS()
def m017_unread(db: Database) -> None:
    # Files a run holds that look like metrics or params but could not be read, with the reason: what the
    # detail panel and `show --json` list so that nothing is dropped in silence. Rewritten on every read.
    db.executescript(
        """
        CREATE TABLE unread (
            run_key TEXT NOT NULL,
            path TEXT NOT NULL,
            reason TEXT NOT NULL,
            PRIMARY KEY (run_key, path)
        );
        """
    )


@MIGRATIONS()
def m015_changes(db: Database) -> None:
    """Which runs each commit touched, in commit order: another expdesk process sharing the index reads
    the rows after the last one it saw to follow this process's writes (issue 15). Pruned by the writer,
    never its newest row, so the rowid keeps growing without AUTOINCREMENT (whose bookkeeping table cost
    one more page per commit)."""
    db.executescript(
        """
        CREATE TABLE changes (
            seq INTEGER PRIMARY KEY,
            run_key TEXT NOT NULL
        );
        """
    )


@MIGRATIONS()
def m020_hidden(db: Database) -> None:
    # the user's "hide this run" (issue 20): an annotation like a star, so a rebuilt cache keeps it and the
    # run folder is never touched; hidden runs leave the runs table until shown again
    db.executescript("ALTER TABLE annotations ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;")


@MIGRATIONS()
def m021_views(db: Database) -> None:
    """Saved views (issue 21): the user's own data, keyed by name, kept when the runs cache is rebuilt."""
    db.executescript(
        """
        CREATE TABLE views (
            name TEXT PRIMARY KEY,
            doc TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        """
    )


@MIGRATIONS()
def m023_parts(db: Database) -> None:
    # Parts and runs (issue 23). `runs` keeps one row per *part* (what one reader read in one folder); a run
    # is one training job = the parts the join rules put together. `parts` maps every part of a joined run
    # (its head included) to the run's key; a part with no row there is a run on its own. `part_choices` is
    # the user's own split/join (user data, like annotations: no foreign keys, survives rebuilt caches).
    # `joined_*` hold the merged values of joined runs only, recomputed after every write batch
    # (`expdesk.index.parts`); the `run_*` views put them in place of the parts' own rows, so every query
    # on runs sees runs. `finals` are the results a run reported (a metric's `final`).
    db.executescript(PARTS_SQL)
    db.executescript(RUN_VIEWS_SQL)
    from expdesk.index.parts.build import rejoin_all  # the rules live with the build; import late

    rejoin_all(db.conn)


@MIGRATIONS()
def m019_list_order(db: Database) -> None:
    # The runs table's default order (newest first, runs without a start time last) as an index on the rows
    # it lists (`run_rows`, issue 23), so that the first page of a filter walks the newest runs and stops once
    # it has enough (issue 19: 100,000 runs). An expression index on purpose: only a query spelled
    # `start_time IS NULL, start_time DESC, key` walks it (`table.NEWEST_FIRST_INDEXED`, always with a LIMIT);
    # a whole ordered list scans the table and sorts, which is 2-6x faster than visiting every row through an
    # index (measured, bench_gui_open.py).
    # (an index of the same order on `runs`, from this branch before issue 23, serves no query now)
    db.executescript(
        "DROP INDEX IF EXISTS runs_newest_first;"
        " CREATE INDEX run_rows_newest_first ON run_rows(start_time IS NULL, start_time DESC, key);"
    )


def migrate(db: Database) -> None:
    MIGRATIONS.apply(db)
