"""Keeping runs = joined parts current: after every write batch, on the writer's connection, in the batch's
transaction (so no reader ever sees a part as a run of its own before it joins: no duplicate row between).

`rejoin(conn, changed)` gathers the parts the rules could relate to the changed ones (same folder, the job
folders above, the parts below a job, sibling logger versions, records naming them and what they name, the
runs they belonged to), re-plans them with `rules.plan`, and rewrites the `parts` rows and the merged
`joined_*` rows of every run that changed. Cost: a few indexed look-ups per changed part.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import sqlite3
import struct
import time
from collections.abc import Collection, Iterable
from typing import Any

from expdesk.index.parts import rules
from expdesk.index.parts.merge import MergedRun, MetricRow, PartValues, merge
from expdesk.index.parts.rules import Choice, Named, PartFact, Plan

#: link rules that name another run for the join rules (readers record them as `Link(rule="names.<tool>")`)
NAMES_PREFIX = "names."
#: a gather that grows past this many parts stops growing (a pathological store cannot stall the writer)
GATHER_CAP = 20_000
_F8 = struct.Struct("<d")
_FACT_COLUMNS = "key, format, path, root, native_id, store, gone"


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class _Gather:
    """The closure of a set of parts under the rules' relations, read with indexed look-ups."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.facts: dict[str, PartFact] = {}
        self.crowded: set[str] = set()

    def rows(self, sql: str, args: Iterable[Any]) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(sql, tuple(args)))

    def load(self, keys: Collection[str]) -> list[PartFact]:
        todo = sorted(k for k in keys if k not in self.facts)
        new: list[PartFact] = []
        for part in _chunks(todo):
            found = self.rows(f"SELECT {_FACT_COLUMNS} FROM runs WHERE key IN ({_marks(len(part))})", part)
            names = self._names(part)
            declares = self._declares([r[0] for r in found if r[1] == "dvc"])
            digests = self._digests([r[0] for r in found if r[1] in ("lightning", "tensorboard")])
            for key, fmt, path, root, native_id, store, gone in found:
                fact = PartFact(
                    key, fmt, path, root, native_id, store, bool(gone),
                    tuple(names.get(key, ())), tuple(declares.get(key, ())), digests.get(key),
                )  # fmt: skip
                self.facts[key] = fact
                new.append(fact)
        return new

    def _names(self, keys: list[str]) -> dict[str, list[Named]]:
        out: dict[str, list[Named]] = {}
        sql = (
            "SELECT run_key, rule, target_native_id, target_path, evidence FROM links"
            f" WHERE run_key IN ({_marks(len(keys))}) AND rule LIKE 'names.%'"
        )
        for run_key, rule, native_id, path, evidence in self.rows(sql, keys):
            try:
                ev = json.loads(evidence or "{}")
            except ValueError:
                ev = {}
            fmt = ev.get("format") or rule[len(NAMES_PREFIX) :] or None
            said = str(ev.get("recorded", ""))
            out.setdefault(run_key, []).append(Named(rule, fmt, native_id, path, said))
        return out

    def _digests(self, keys: list[str]) -> dict[str, str]:
        """sha1 of each part's params (sorted key=value lines); "" for a part with none."""
        if not keys:
            return {}
        lines: dict[str, list[str]] = {k: [] for k in keys}
        sql = f"SELECT run_key, key, value FROM params WHERE run_key IN ({_marks(len(keys))}) ORDER BY run_key, key"
        for run_key, key, value in self.rows(sql, keys):
            lines[run_key].append(f"{key}={value}")
        return {
            k: hashlib.sha1("\n".join(v).encode("utf-8", "surrogatepass")).hexdigest() if v else ""
            for k, v in lines.items()
        }

    def _declares(self, keys: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        if not keys:
            return out
        sql = (
            f"SELECT run_key, local FROM files WHERE run_key IN ({_marks(len(keys))})"
            " AND direction = 'output' AND local IS NOT NULL"
        )
        for run_key, local in self.rows(sql, keys):
            out.setdefault(run_key, []).append(local.rstrip("/"))
        return out

    def _keys_where(self, sql: str, values: Collection[str], extra: tuple[Any, ...] = ()) -> set[str]:
        """`sql` (with one `{}` for the `IN` list) over `values`, 500 at a time: the first column of every row."""
        found: set[str] = set()
        for part in _chunks(sorted(values)):
            found |= {r[0] for r in self.rows(sql.format(_marks(len(part))), (*part, *extra))}
        return found

    def related(self, facts: list[PartFact]) -> set[str]:
        """Keys of parts a rule could relate to any of `facts` (one hop), in a handful of `IN` queries for
        the whole frontier (a cold index of a 5,000-run sweep re-plans 256 parts per batch)."""
        facts = [f for f in facts if "://" not in f.path]
        places: set[str] = set()
        found: set[str] = set()
        for fact in facts:
            places.add(fact.path)
            places.update(rules.ancestors(fact.path, fact.root))
            if fact.kind == "project":
                for declared in fact.declares:
                    places.add(declared)
                    places.update(rules.ancestors(declared, fact.path))
            if fact.kind == "job":
                below = self._below(fact.path, rules.MAX_PARTS + 1)
                if len(below) > rules.MAX_PARTS:
                    self.crowded.add(fact.key)
                else:
                    found |= below
            if fact.format in ("lightning", "tensorboard"):
                leaf = posixpath.basename(fact.path)
                out = posixpath.dirname(posixpath.dirname(fact.path))
                if out and (out == fact.root or rules.is_within(out, fact.root)):
                    for key, path in self._below_with_path(out, rules.MAX_PARTS * 4):
                        if posixpath.basename(path) == leaf and path.count("/") == fact.path.count("/"):
                            found.add(key)
        found |= self._keys_where("SELECT key FROM runs WHERE path IN ({})", places)
        named_ids = {n.native_id for f in facts for n in f.names if n.native_id}
        named_paths = {n.path.rstrip("/") for f in facts for n in f.names if n.path}
        found |= self._keys_where("SELECT key FROM runs WHERE native_id IN ({})", named_ids)
        found |= self._keys_where("SELECT key FROM runs WHERE path IN ({})", named_paths)
        # records of other parts that name these ones
        naming = "SELECT run_key FROM links WHERE {column} IN ({{}}) AND rule LIKE 'names.%'"
        found |= self._keys_where(naming.format(column="target_path"), {f.path for f in facts})
        ids = {f.native_id for f in facts if f.native_id}
        found |= self._keys_where(naming.format(column="target_native_id"), ids)
        # the runs these parts belonged to, whole, and the user's choices that tie them to others
        keys = {f.key for f in facts}
        heads = keys | self._keys_where("SELECT run_key FROM parts WHERE part_key IN ({})", keys)
        found |= self._keys_where("SELECT part_key FROM parts WHERE run_key IN ({})", heads)
        found |= self._keys_where("SELECT part_key FROM part_choices WHERE anchor IN ({})", keys)
        found |= self._keys_where(
            "SELECT anchor FROM part_choices WHERE part_key IN ({}) AND anchor IS NOT NULL", keys
        )
        return found - keys

    def _below(self, folder: str, limit: int) -> set[str]:
        return {k for k, _ in self._below_with_path(folder, limit)}

    def _below_with_path(self, folder: str, limit: int) -> list[tuple[str, str]]:
        # '/' + 1 = '0': every path starting with `folder/` sorts in [folder/, folder0)
        base = folder.rstrip("/")
        rows = self.rows(
            "SELECT key, path FROM runs WHERE path > ? AND path < ? AND gone = 0 LIMIT ?",
            (base + "/", base + "0", limit),
        )
        return [(r[0], r[1]) for r in rows]

    def closure(self, seeds: Collection[str]) -> None:
        frontier = self.load(seeds)
        while frontier and len(self.facts) < GATHER_CAP:
            frontier = self.load(self.related(frontier))


def _choices(conn: sqlite3.Connection, keys: Collection[str] | None) -> dict[str, Choice]:
    if keys is None:
        rows = list(conn.execute("SELECT part_key, choice, anchor FROM part_choices"))
    else:
        rows = []
        for part in _chunks(sorted(keys)):
            rows += conn.execute(
                f"SELECT part_key, choice, anchor FROM part_choices WHERE part_key IN ({_marks(len(part))})",
                part,
            ).fetchall()
    return {r[0]: Choice(r[1], r[2]) for r in rows}


def hidden_among(conn: sqlite3.Connection, keys: Collection[str]) -> set[str]:
    """Which of `keys` are parts of another run (not rows of their own): listeners hear their runs instead."""
    out: set[str] = set()
    for part in _chunks(sorted(keys)):
        sql = f"SELECT part_key FROM parts WHERE part_key IN ({_marks(len(part))}) AND run_key != part_key"
        out |= {r[0] for r in conn.execute(sql, part)}
    return out


def rejoin(conn: sqlite3.Connection, changed: Collection[str]) -> set[str]:
    """Re-plan the runs the `changed` parts belong to (or everything for `"*"`); returns the run keys whose
    rows changed (a run that lost or gained parts, a part that became a run again), for listeners. Runs on
    the writer thread inside its open transaction."""
    if "*" in changed:
        return rejoin_all(conn)
    gather = _Gather(conn)
    gather.closure(changed)
    if not gather.facts:
        return set()
    return _apply(conn, gather.facts, gather.crowded, _choices(conn, gather.facts), set(changed))


def rejoin_all(conn: sqlite3.Connection) -> set[str]:
    """Every part re-planned (a migration, a removed root, `--force`)."""
    # rows of parts no longer in the index (a removed root) and of runs they headed go first
    gone_runs = {
        r[0]
        for r in conn.execute(
            "SELECT DISTINCT run_key FROM parts WHERE part_key NOT IN (SELECT key FROM runs)"
        )
    }
    conn.execute("DELETE FROM parts WHERE part_key NOT IN (SELECT key FROM runs)")
    for run_key in gone_runs:
        _clear_run(conn, run_key)
    gather = _Gather(conn)
    keys = [r[0] for r in conn.execute("SELECT key FROM runs")]
    gather.load(keys)
    crowded = _crowded(gather.facts.values())
    return _apply(conn, gather.facts, crowded, _choices(conn, None), set(keys))


def _crowded(facts: Iterable[PartFact]) -> set[str]:
    """Job folders with more than MAX_PARTS parts below them, counted over sorted paths."""
    import bisect

    live = [f for f in facts if not f.gone]
    paths = sorted(f.path for f in live)
    out = set()
    for f in live:
        if f.kind != "job":
            continue
        base = f.path.rstrip("/")
        n = bisect.bisect_left(paths, base + "0") - bisect.bisect_right(paths, base + "/")
        if n > rules.MAX_PARTS:
            out.add(f.key)
    return out


def _apply(
    conn: sqlite3.Connection,
    facts: dict[str, PartFact],
    crowded: set[str],
    choices: dict[str, Choice],
    changed: set[str],
) -> set[str]:
    planned = rules.plan(facts.values(), choices, crowded)
    keys = sorted(facts)
    old: dict[str, tuple[str, str, str, str, int]] = {}
    for part in _chunks(keys):
        for row in conn.execute(
            f"SELECT part_key, run_key, rule, evidence, label, rank FROM parts WHERE part_key IN ({_marks(len(part))})",
            part,
        ):
            old[row[0]] = (row[1], row[2], row[3], row[4], row[5])
    new = {
        k: (m.run_key, m.rule, json.dumps(dict(m.evidence), sort_keys=True), m.label, m.rank)
        for k, m in planned.members.items()
    }
    dirty_runs = {v[0] for k, v in old.items() if new.get(k) != v} | {
        v[0] for k, v in new.items() if old.get(k) != v
    }
    # a run whose membership is unchanged is still re-merged when one of its parts was written
    dirty_runs |= {new[k][0] for k in changed if k in new}
    conn.executemany(
        "DELETE FROM parts WHERE part_key = ?", [(k,) for k in keys if k in old and old[k] != new.get(k)]
    )
    conn.executemany(
        "INSERT OR REPLACE INTO parts (part_key, run_key, rule, evidence, label, rank) VALUES (?,?,?,?,?,?)",
        [(k, *v) for k, v in new.items() if old.get(k) != v],
    )
    # a run of its own that joins another run: its stars, notes and labels go with it (copied: a split
    # gives the part back its own)
    for part_key, membership in new.items():
        if membership[0] != part_key and (part_key not in old or old[part_key][0] == part_key):
            _carry_annotations(conn, part_key, membership[0])
    _write_notes(conn, keys, planned)
    for run_key in sorted(dirty_runs):
        _materialise(conn, run_key, planned)
    return dirty_runs | {k for k in old if k not in new and k not in changed}


def _carry_annotations(conn: sqlite3.Connection, part_key: str, run_key: str) -> None:
    conn.execute(
        "INSERT INTO annotations (run_key, starred, note) SELECT ?, starred, note FROM annotations"
        " WHERE run_key = ? AND true ON CONFLICT(run_key) DO UPDATE SET"
        " starred = MAX(starred, excluded.starred),"
        " note = CASE WHEN note = '' THEN excluded.note WHEN excluded.note IN ('', note) THEN note"
        " ELSE note || char(10) || excluded.note END",
        (run_key, part_key),
    )
    conn.execute(
        "INSERT OR IGNORE INTO user_tags (run_key, tag) SELECT ?, tag FROM user_tags WHERE run_key = ?",
        (run_key, part_key),
    )


def _write_notes(conn: sqlite3.Connection, keys: list[str], planned: Plan) -> None:
    for part in _chunks(keys):
        conn.execute(f"DELETE FROM join_notes WHERE key IN ({_marks(len(part))})", part)
    conn.executemany(
        "INSERT INTO join_notes (key, note) VALUES (?, ?)",
        [(key, note) for key, notes in sorted(planned.notes.items()) for note in notes],
    )


def _clear_run(conn: sqlite3.Connection, run_key: str) -> None:
    for table in ("joined_params", "joined_tags", "joined_metrics"):
        conn.execute(f"DELETE FROM {table} WHERE run_key = ?", (run_key,))
    conn.execute("DELETE FROM joined_runs WHERE key = ?", (run_key,))


def _materialise(conn: sqlite3.Connection, run_key: str, planned: Plan) -> None:
    _clear_run(conn, run_key)
    members = sorted(
        ((k, m) for k, m in planned.members.items() if m.run_key == run_key), key=lambda km: km[1].rank
    )
    if len(members) < 2:
        return
    parts = [load_part_values(conn, key, m.label) for key, m in members]
    merged = merge(parts)
    _insert_run(conn, run_key, planned.run_paths.get(run_key, ""), merged)


def load_part_values(conn: sqlite3.Connection, key: str, label: str) -> PartValues:
    """One part's rows as the merge wants them."""
    row = conn.execute(
        "SELECT format, name, experiment, status, native_status, deleted, start_time, end_time, last_activity,"
        " error, info FROM runs WHERE key = ?",
        (key,),
    ).fetchone()
    part = PartValues(
        key, row[0], label, name=row[1], experiment=row[2], status=row[3], native_status=row[4],
        deleted=bool(row[5]), start_time=row[6], end_time=row[7], last_activity=row[8], error=row[9],
        start_from_mtime=_start_from_mtime(row[10]), start_from=_start_from(row[10]),
    )  # fmt: skip
    part.params = {
        k: (v, n) for k, v, n in conn.execute("SELECT key, value, num FROM params WHERE run_key = ?", (key,))
    }
    part.tags = dict(conn.execute("SELECT key, value FROM tags WHERE run_key = ?", (key,)).fetchall())
    for r in conn.execute(
        "SELECT key, id, count, first_step, last_step, last, min, max, argmin_step, argmax_step, nan_count,"
        " last_timestamp, exact FROM series WHERE run_key = ?",
        (key,),
    ):
        part.metrics[r[0]] = MetricRow(
            series_id=r[1], count=r[2], first_step=r[3], last_step=r[4], last=r[5], min=r[6], max=r[7],
            argmin_step=r[8], argmax_step=r[9], nan_count=r[10], last_timestamp=r[11], exact=r[12], part_key=key,
        )  # fmt: skip
    for k, value, exact, source in conn.execute(
        "SELECT key, value, exact, source FROM finals WHERE run_key = ?", (key,)
    ):
        m = part.metrics.setdefault(k, MetricRow(part_key=key))
        m.final, m.final_exact, m.final_source = value, exact, source
    return part


def _start_from(info: str | None) -> str | None:
    try:
        said = json.loads(info or "{}").get("start_time_from")
    except (ValueError, AttributeError):
        return None
    return said if isinstance(said, str) else None


def _start_from_mtime(info: str | None) -> bool:
    try:
        said = json.loads(info or "{}").get("start_time_from", "")
    except (ValueError, AttributeError):
        return False
    return isinstance(said, str) and "mtime" in said


def _insert_run(conn: sqlite3.Connection, run_key: str, path: str, merged: MergedRun) -> None:
    conn.execute(
        "INSERT INTO joined_runs (key, path, name, experiment, status, native_status, deleted, start_time,"
        " end_time, last_activity, error, formats, info) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            run_key, path, merged.name, merged.experiment, merged.status, merged.native_status,
            int(merged.deleted), merged.start_time, merged.end_time, merged.last_activity, merged.error,
            merged.formats, json.dumps({"start_time_from": merged.start_from}),
        ),
    )  # fmt: skip
    conn.executemany(
        "INSERT INTO joined_params (run_key, key, value, num, part_key) VALUES (?,?,?,?,?)",
        [(run_key, k, v, n, p) for k, (v, n, p) in merged.params.items()],
    )
    conn.executemany(
        "INSERT INTO joined_tags (run_key, key, value, part_key) VALUES (?,?,?,?)",
        [(run_key, k, v, p) for k, (v, p) in merged.tags.items()],
    )
    conn.executemany(
        "INSERT INTO joined_metrics (run_key, key, series_id, part_key, count, first_step, last_step, last, min,"
        " max, argmin_step, argmax_step, nan_count, last_timestamp, exact, final, final_exact, final_source)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                run_key, k, m.series_id, m.part_key, m.count, m.first_step, m.last_step, m.last, m.min, m.max,
                m.argmin_step, m.argmax_step, m.nan_count, m.last_timestamp, m.exact, m.final, m.final_exact,
                m.final_source,
            )
            for k, m in merged.metrics.items()
        ],
    )  # fmt: skip


# -- the user's choices (written by `Index.split` / `Index.join`) -------------------------------------------
def set_choices(conn: sqlite3.Connection, rows: Iterable[tuple[str, str, str | None]]) -> None:
    """Record (part key, "alone" | "with" | "auto", anchor) choices; "auto" forgets the user's word."""
    now = time.time()
    for key, choice, anchor in rows:
        if choice == "auto":
            conn.execute("DELETE FROM part_choices WHERE part_key = ?", (key,))
        else:
            conn.execute(
                "INSERT OR REPLACE INTO part_choices (part_key, choice, anchor, made_at) VALUES (?,?,?,?)",
                (key, choice, anchor, now),
            )


def run_members(conn: sqlite3.Connection, key: str) -> tuple[str, list[str]]:
    """(run key, its part keys) of a run or part key, on the writer's connection."""
    row = conn.execute("SELECT run_key FROM parts WHERE part_key = ?", (key,)).fetchone()
    run_key = row[0] if row else key
    parts = [
        r[0] for r in conn.execute("SELECT part_key FROM parts WHERE run_key = ? ORDER BY rank", (run_key,))
    ]
    return run_key, parts or [key]


def pack_final(value: float) -> bytes:
    return _F8.pack(value)
