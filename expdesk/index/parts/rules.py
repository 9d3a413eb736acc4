"""The join rules: which parts are one training job. Pure (no SQL): `plan` takes the facts of a closed set of
parts and the user's choices, and says which run each part belongs to, by which rule, on what evidence.

`docs/joins.md` is the same table in prose; `tests/index/test_join_rules.py` has a test per row. Every rule
is about folders that nest or records that name each other, never about values looking alike:

| rule | parts | evidence |
|---|---|---|
| `same-folder` | two readers' parts of one folder (a Hydra job that is also a DVC project) | the same path |
| `job-folder` | a part inside a Hydra job dir or a Trainer output dir | its folder is below the job's |
| `dvc-declared` | a DVCLive (or any) part inside a DVC project that `dvc.yaml` declares | a declared metrics/plots/out path is in its folder |
| `logger-versions` | Lightning-style `<out>/<logger>/<version>` folders of one script's output folder | the same version folder under sibling logger folders, and the same hyperparameters |
| `names-run` | a part and the run its record names (a W&B id in a Hydra config, a Trainer's logging_dir) | the recorded id or path |
| `user` | what `expdesk join` put together | the user's choice |

Bounded outcomes: a job folder with two parts of one kind in one place (two `csv/version_N`, two W&B runs)
joins neither (which one is this job's is not recorded); a job folder with more than `MAX_PARTS` parts below
it joins none; a record naming a run that disagrees with the job's own part of that tool, or that belongs to
another job, is not followed. Each of these leaves a note on the run instead.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: a job folder with more parts below it than this joins none of them (said in a note)
MAX_PARTS = 64
#: the native id of a Hydra multirun's sweep run (a sweep is lineage, never a job folder)
HYDRA_SWEEP_ID = "multirun"
#: Lightning's default version folder names (`version_3`); other leaf names join only Lightning parts
VERSION_DIR = re.compile(r"^version_\d+$")

#: params/metrics precedence between parts of one run: the job's config first, then the loggers
FORMAT_RANK = {
    "hydra": 0,
    "dvc": 1,
    "transformers": 2,
    "sacred": 3,
    "mlflow": 4,
    "mlflow-sqlite": 4,
    "trackio": 5,
    "wandb": 6,
    "lightning": 7,
    "dvclive": 8,
    "keras": 9,
    "tensorboard": 10,
    "generic": 11,
}
#: formats whose parts live in a store (several runs per folder or per database file)
STORE_FORMATS = frozenset({"mlflow", "mlflow-sqlite", "trackio", "sacred"})
#: formats whose folder is a job folder: the parts inside it are the job's
JOB_FORMATS = frozenset({"hydra", "transformers"})
_KIND_ORDER = {"job": 0, "project": 1, "store-run": 2, "logger": 3, "sweep": 4, "remote": 5}


@dataclass(frozen=True)
class Named:
    """A run a part's record names: by native id (of `format`) or by folder path."""

    rule: str  # the link rule that recorded it, e.g. "names.wandb"
    format: str | None = None
    native_id: str | None = None
    path: str | None = None
    said: str = ""  # where it was recorded, for the evidence


@dataclass(frozen=True)
class PartFact:
    """What the rules know of a part: identity, place and the records that name other runs."""

    key: str
    format: str
    path: str
    root: str
    native_id: str | None = None
    store: str | None = None
    gone: bool = False
    names: tuple[Named, ...] = ()
    #: absolute paths the part declares as its outputs (a DVC project's metrics, plots and outs)
    declares: tuple[str, ...] = ()
    #: a digest of the part's params, for Lightning-style version folders only ("" = it holds none)
    params_digest: str | None = None

    @property
    def kind(self) -> str:
        if "://" in self.path:
            return "remote"
        if self.format == "hydra":
            return "sweep" if self.native_id == HYDRA_SWEEP_ID else "job"
        if self.format in JOB_FORMATS:
            return "job"
        if self.format == "dvc":
            return "project"
        if self.format in STORE_FORMATS:
            return "store-run"
        return "logger"

    @property
    def depth(self) -> int:
        return self.path.count("/")


@dataclass(frozen=True)
class Choice:
    """The user's word on a part: `alone` (never joined) or `with` (joined to `anchor`'s run)."""

    choice: str
    anchor: str | None = None


@dataclass(frozen=True)
class Membership:
    """A part of a joined run. The head (rank 0) is the part whose key is the run's key."""

    run_key: str
    rule: str
    evidence: tuple[tuple[str, str], ...]
    label: str
    rank: int


@dataclass
class Plan:
    """The outcome for a closed set of parts: memberships of joined parts, run folders, and notes."""

    members: dict[str, Membership] = field(default_factory=dict)
    run_paths: dict[str, str] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)

    def note(self, key: str, text: str) -> None:
        notes = self.notes.setdefault(key, [])
        if text not in notes:
            notes.append(text)


@dataclass(frozen=True)
class _Edge:
    a: str
    b: str
    rule: str
    evidence: tuple[tuple[str, str], ...]


def is_within(path: str, folder: str) -> bool:
    """`path` strictly below `folder` (POSIX-style absolute paths as the index stores them)."""
    return path.startswith(folder.rstrip("/") + "/")


def ancestors(path: str, root: str) -> list[str]:
    """Folders above `path` up to and including `root`, innermost first (none when `path` is not in it)."""
    out = []
    folder = posixpath.dirname(path)
    while folder and (folder == root or is_within(folder, root)):
        out.append(folder)
        parent = posixpath.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return out


def _rel(path: str, folder: str) -> str:
    return path[len(folder.rstrip("/")) + 1 :] if is_within(path, folder) else path


class _Union:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(x, x) != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class _Facts:
    """Look-ups over one closed set of parts."""

    def __init__(self, facts: Iterable[PartFact]) -> None:
        self.all = {f.key: f for f in facts}
        self.live = {k: f for k, f in self.all.items() if not f.gone and f.kind != "remote"}
        self.by_path: dict[str, list[PartFact]] = {}
        self.by_id: dict[tuple[str, str], list[PartFact]] = {}
        for f in self.live.values():
            self.by_path.setdefault(f.path, []).append(f)
            if f.native_id:
                self.by_id.setdefault((f.format, f.native_id), []).append(f)

    def containers_above(self, f: PartFact) -> PartFact | None:
        """The innermost job folder strictly above `f` (a job never joins a job of its own format)."""
        for folder in ancestors(f.path, f.root):
            for job in self.by_path.get(folder, ()):
                if job.kind == "job":
                    return None if (f.kind == "job" and job.format == f.format) else job
        return None


def _slot(part: PartFact, container: PartFact) -> tuple[str, str]:
    """Where a part sits in its job: two parts of one format in one place are ambiguous."""
    if part.kind == "store-run":
        return part.format, part.store or posixpath.dirname(part.path)
    return part.format, _rel(posixpath.dirname(part.path), container.path)


def _nesting_edges(facts: _Facts, crowded: set[str], plan: Plan) -> list[_Edge]:
    by_job: dict[str, dict[tuple[str, str], list[PartFact]]] = {}
    for f in facts.live.values():
        if f.kind == "sweep":
            continue
        job = facts.containers_above(f)
        if job is not None:
            by_job.setdefault(job.key, {}).setdefault(_slot(f, job), []).append(f)
    edges = []
    for job_key in crowded:
        by_job.setdefault(job_key, {})  # the builder did not load what is below a crowded job: still said
    for job_key, slots in by_job.items():
        job = facts.live.get(job_key)
        if job is None:
            continue
        total = sum(len(v) for v in slots.values())
        if job_key in crowded or total > MAX_PARTS:
            plan.note(job_key, f"more than {MAX_PARTS} parts below this job folder: none joined")
            continue
        for (fmt, place), parts in sorted(slots.items()):
            if len(parts) > 1:
                where = f" in {place}" if place and not place.startswith("/") else ""
                plan.note(
                    job_key,
                    f"{len(parts)} {fmt} parts{where}: none joined (which one is this job's is not recorded;"
                    " `expdesk join` joins one)",
                )
                continue
            part = parts[0]
            edges.append(_Edge(part.key, job.key, "job-folder", (("job", job.path),)))
    return edges


def _same_folder_edges(facts: _Facts) -> list[_Edge]:
    edges = []
    for path, parts in facts.by_path.items():
        folder_parts = [p for p in parts if p.kind in ("job", "project", "logger")]
        formats = {p.format for p in folder_parts}
        if len(folder_parts) < 2 or len(formats) != len(folder_parts):
            continue
        first = min(folder_parts, key=_order)
        edges += [
            _Edge(p.key, first.key, "same-folder", (("folder", path),)) for p in folder_parts if p != first
        ]
    return edges


def _declared_edges(facts: _Facts) -> list[_Edge]:
    edges = []
    for project in facts.live.values():
        if project.kind != "project" or not project.declares:
            continue
        for declared in project.declares:
            folders = [declared, *ancestors(declared, project.path)]
            for folder in folders:
                if folder == project.path:
                    break
                for part in facts.by_path.get(folder, ()):
                    if part.kind == "logger":
                        rel = _rel(declared, project.path)
                        edges.append(_Edge(part.key, project.key, "dvc-declared", (("declared", rel),)))
    return edges


def _version_edges(facts: _Facts) -> list[_Edge]:
    groups: dict[tuple[str, str], list[PartFact]] = {}
    for f in facts.live.values():
        if f.kind != "logger" or f.format not in ("lightning", "tensorboard"):
            continue
        leaf = posixpath.basename(f.path)
        logger_dir = posixpath.dirname(f.path)
        out = posixpath.dirname(logger_dir)
        if not (VERSION_DIR.match(leaf) or f.format == "lightning") or not (
            out == f.root or is_within(out, f.root)
        ):
            continue
        if facts.containers_above(f) is not None:
            continue  # inside a job folder: the job joins it
        groups.setdefault((out, leaf), []).append(f)
    edges = []
    for (out, leaf), parts in groups.items():
        if len(parts) < 2 or (
            not VERSION_DIR.match(leaf) and not any(p.format == "lightning" for p in parts)
        ):
            continue
        # one fit's loggers got the same hyperparameters (Lightning logs them to each): two experiments
        # that happen to share a version number under one folder (`expA/version_0`, `expB/version_0`) did not
        if len({p.params_digest for p in parts if p.params_digest}) > 1 or len(parts) > MAX_PARTS:
            continue
        first = min(parts, key=_order)
        for p in parts:
            if p != first:
                edges.append(
                    _Edge(p.key, first.key, "logger-versions", (("output_dir", out), ("version", leaf)))
                )
    return edges


def _order(f: PartFact) -> tuple[Any, ...]:
    """Precedence between parts of one run: jobs before projects before loggers, outer before inner."""
    return (_KIND_ORDER[f.kind], f.depth, FORMAT_RANK.get(f.format, 99), f.path, f.key)


def _named_edges(facts: _Facts, union: _Union, plan: Plan) -> list[_Edge]:
    """Records naming other runs, followed only when they agree with what the job already holds."""
    by_component: dict[str, list[tuple[PartFact, Named, PartFact]]] = {}
    for f in facts.live.values():
        for named in f.names:
            targets: list[PartFact] = []
            if named.native_id and named.format:
                targets = facts.by_id.get((named.format, named.native_id), [])
            elif named.path:
                targets = facts.by_path.get(named.path.rstrip("/"), [])
                if named.format:
                    targets = [t for t in targets if t.format == named.format]
            # never across watched roots: a record is not a way out of the folder the user gave
            targets = [t for t in targets if t.key != f.key and t.root == f.root]
            if len(targets) == 1:
                by_component.setdefault(union.find(f.key), []).append((f, named, targets[0]))
    members: dict[str, list[PartFact]] = {}
    for f in facts.live.values():
        members.setdefault(union.find(f.key), []).append(f)
    edges = []
    for comp, found in by_component.items():
        holders = members.get(comp, [])
        for source, named, target in found:
            what = f"{named.said or named.rule} names {target.format} run {target.native_id or target.path}"
            if union.find(target.key) == comp:
                continue  # already one run
            same_tool = [p for p in holders if p.format == target.format and p.key != target.key]
            others = {t.key for s, n, t in found if t.format == target.format}
            own_job = [p for p in holders if p.kind == "job"]
            other_job = [p for p in members.get(union.find(target.key), []) if p.kind == "job"]
            if same_tool:
                held = same_tool[0].native_id or same_tool[0].path
                plan.note(source.key, f"{what}, but the job holds {target.format} run {held}: not joined")
            elif len(others) > 1:
                plan.note(
                    source.key, f"{what}, and other records name other {target.format} runs: none joined"
                )
            elif other_job and own_job:
                plan.note(
                    source.key, f"{what}, which belongs to another job ({other_job[0].path}): not joined"
                )
            else:
                evidence = (
                    ("recorded", named.said or named.rule),
                    ("names", target.native_id or target.path),
                )
                edges.append(_Edge(source.key, target.key, "names-run", evidence))
    return edges


def plan(
    facts: Iterable[PartFact],
    choices: Mapping[str, Choice] | None = None,
    crowded: Iterable[str] = (),
) -> Plan:
    """Which parts are one run. `facts` must be closed under the rules (every part a rule could relate to
    one of them is in it); `crowded` are job folders known to hold more than `MAX_PARTS` parts."""
    choices = choices or {}
    known = _Facts(facts)
    out = Plan()
    alone = {k for k, c in choices.items() if c.choice == "alone"}
    edges = _same_folder_edges(known) + _nesting_edges(known, set(crowded), out)
    edges += _declared_edges(known) + _version_edges(known)
    edges = [e for e in edges if e.a not in alone and e.b not in alone]
    union = _Union()
    for e in edges:
        union.union(e.a, e.b)
    named = [e for e in _named_edges(known, union, out) if e.a not in alone and e.b not in alone]
    for e in named:
        union.union(e.a, e.b)
    edges += named
    anchors: dict[str, str] = {}
    for key, c in sorted(choices.items()):
        if c.choice == "with" and c.anchor and key in known.live and c.anchor in known.live:
            edges.append(_Edge(key, c.anchor, "user", (("joined by", "user"),)))
            union.union(key, c.anchor)
            anchors[union.find(c.anchor)] = c.anchor
    comps: dict[str, list[PartFact]] = {}
    for f in known.live.values():
        comps.setdefault(union.find(f.key), []).append(f)
    # a part's reason is the edge it is the source of (`a` joins `b`); a pure target falls back to any edge
    # (the user's word first: a part the user joined says so even where a rule would have joined it too)
    why: dict[str, _Edge] = {}
    ordered_edges = [e for e in edges if e.rule == "user"] + [e for e in edges if e.rule != "user"]
    for e in ordered_edges:
        why.setdefault(e.a, e)
    for e in ordered_edges:
        why.setdefault(e.b, e)
    for comp, parts in comps.items():
        if len(parts) < 2:
            continue
        ordered = sorted(parts, key=_order)
        anchor = anchors.get(union.find(comp))
        if anchor is None and len(parts) > MAX_PARTS:
            out.note(
                ordered[0].key, f"{len(parts)} parts would be one run (more than {MAX_PARTS}): none joined"
            )
            continue
        head = known.live[anchor] if anchor else ordered[0]
        ordered = [head] + [p for p in ordered if p is not head]
        _assign(out, head, ordered, why)
    return out


def _assign(out: Plan, head: PartFact, ordered: list[PartFact], why: Mapping[str, _Edge]) -> None:
    if head.kind in ("job", "project"):
        folder = head.path
    else:
        folder = posixpath.commonpath([p.path for p in ordered if "://" not in p.path])
    out.run_paths[head.key] = folder
    formats = [p.format for p in ordered]
    for rank, part in enumerate(ordered):
        if formats.count(part.format) == 1:
            label = part.format
        elif part.kind == "store-run" and part.native_id:
            label = f"{part.format}:{part.native_id}"
        else:
            label = f"{part.format}:{_rel(part.path, folder) if part.path != folder else '.'}"
        edge = why.get(part.key)
        evidence: tuple[tuple[str, str], ...]
        if part is head:
            rule, evidence = "head", ()
        elif edge is not None:
            rule, evidence = edge.rule, edge.evidence
        else:
            rule, evidence = "user", (("joined by", "user"),)
        out.members[part.key] = Membership(head.key, rule, evidence, label, rank)
