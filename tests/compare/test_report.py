"""The hand-over report: its content against the runs' ground truth, self-contained (nothing from the network,
no script), every user string inert, a 1 MB name harmless; the CLI contract."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest

from expdesk.cli.entry import main
from expdesk.compare.groups import BandKind, GroupBy
from expdesk.compare.report import ReportOptions, build_report, write_report
from expdesk.compare.report.content import MediaChoice, MediaSeriesInfo, gather
from expdesk.index.service import Index
from tests.compare.conftest import add_run
from tests.compare.report_html import Page, read_page
from tests.groundtruth import RUNS, gt_path, load_gt

IRIS = "iris-classification"
#: elements a report may hold; anything else (script, link, iframe, object, base, form...) is a defect
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "p", "nav", "a", "section",
    "div", "table", "thead", "tbody", "tr", "th", "td", "bdi", "code", "details", "summary", "figure", "img",
    "figcaption", "ul", "li", "span", "pre", "audio",
}  # fmt: skip
SVG_NS = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """The MLflow iris runs indexed into a fresh DB; their ground truth (MLflow's own client) by run id."""
    tmp = tmp_path_factory.mktemp("iris")
    with Index(tmp / "i.db") as index:
        index.index([RUNS / "mlflow" / "filestore"])
    truth = [
        r for r in load_gt("mlflow")["runs"] if r.get("experiment_name") == IRIS and r["backend"] == "file"
    ]
    return tmp / "i.db", truth


def _keys(db: Path, truth: list[dict]) -> list[str]:
    with Index(db) as index, index.reader() as reader:
        by_path = {r["path"]: r["key"] for r in reader.runs_json(reader.run_keys())}
    return [by_path[str(gt_path(t["path"]).resolve())] for t in truth]


def assert_self_contained(page_html: str) -> Page:
    """No element that runs code or loads anything; every source a data: URI, every link in the page; a CSP
    that forbids every other source; the embedded SVGs inert too."""
    page = read_page(page_html)
    tags = {t for t, _ in page.tags}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)  # no event handlers
            if name == "src":
                assert (value or "").startswith("data:"), (tag, value[:80] if value else value)
            if name == "href":
                assert (value or "").startswith("#"), (tag, value)
            if name == "style":
                assert "url(" not in (value or "") and "expression" not in (value or "")
            if tag == "meta" and name == "http-equiv":
                assert value == "Content-Security-Policy"
    csp = [a["content"] for t, a in page.tags if t == "meta" and a.get("http-equiv")]
    assert csp == [
        "default-src 'none'; img-src data:; media-src data:; style-src 'unsafe-inline'; form-action 'none'"
    ]
    css = "".join(page.styles)
    assert "url(" not in css and "@import" not in css and "//" not in css
    for svg in page.data_uris("image/svg+xml"):
        root = ElementTree.fromstring(svg)
        for el in root.iter():
            assert el.tag not in (f"{SVG_NS}script", f"{SVG_NS}foreignObject", f"{SVG_NS}image"), el.tag
            for name, value in el.attrib.items():
                assert not name.startswith("on")
                if name in ("href", XLINK):
                    assert value.startswith("#"), value
            assert "url(http" not in (el.text or "") and "@import" not in (el.text or "")
    return page


def test_report_content_matches_what_mlflow_recorded(iris: tuple[Path, list[dict]]) -> None:
    db, truth = iris
    keys = _keys(db, truth)
    with Index(db) as index, index.reader() as reader:
        page_html = build_report(reader, keys, ReportOptions(metrics=["train_loss", "val_accuracy"]))
    page = assert_self_contained(page_html)
    # runs in the order asked, by name, key and status
    runs = next(t for t in page.tables if t[0][:3] == ["label", "name", "key"])
    assert [row[1] for row in runs[1:]] == [t["run_name"] for t in truth]
    assert [row[2] for row in runs[1:]] == keys
    assert [row[5] for row in runs[1:]] == [t["status"].lower() for t in truth]
    # params that differ, as recorded (text), a missing one as an em dash
    assert page.row("alpha") == [t["params"].get("alpha", "—") for t in truth]
    # every metric summary at full precision, from MLflow's own client
    for metric in sorted({m for t in truth for m in t["metrics"]}):
        for stat, field in (("last", "last_value"), ("min", "min"), ("max", "max")):
            cells = page.row(f"{metric} · {stat}")
            expected = [
                repr(float(t["metrics"][metric][field])) if metric in t["metrics"] else "—" for t in truth
            ]
            assert cells == expected, (metric, stat)
        counts = page.row(f"{metric} · points (steps)")
        for cell, t in zip(counts, truth, strict=True):
            m = t["metrics"].get(metric)
            assert cell == ("—" if m is None else f"{m['count']} ({m['first_step']}…{m['last_step']})")
    # one chart per metric asked for, an SVG each, with a line per run that has the metric
    svgs = page.data_uris("image/svg+xml")
    assert len(svgs) == 2
    ids = set(re.findall(rb'id="(raw:[0-9a-f]+)"', svgs[0]))
    assert ids == {
        f"raw:{k}".encode() for k, t in zip(keys, truth, strict=True) if "train_loss" in t["metrics"]
    }


def test_grouped_report_draws_group_means(iris: tuple[Path, list[dict]]) -> None:
    db, truth = iris
    keys = _keys(db, truth)
    options = ReportOptions(metrics=["train_loss"], group_by=GroupBy.parse("params.alpha"), band=BandKind.STD)
    with Index(db) as index, index.reader() as reader:
        page_html = build_report(reader, keys, options)
    page = assert_self_contained(page_html)
    (svg,) = page.data_uris("image/svg+xml")
    groups = {t["params"].get("alpha", "∅") for t in truth if "train_loss" in t["metrics"]}
    assert set(re.findall(rb'id="mean:([^"]+)"', svg)) == {g.encode() for g in groups}
    assert "Mean of each group by params.alpha; the band is ± one sample standard deviation." in page_html


def test_same_runs_give_the_same_page(iris: tuple[Path, list[dict]]) -> None:
    db, truth = iris
    keys = _keys(db, truth)[:3]
    with Index(db) as index, index.reader() as reader:
        pages = [build_report(reader, keys, ReportOptions(generated_at=1.8e9)) for _ in range(2)]
    assert pages[0] == pages[1]


HOSTILE_NAMES = [
    "<script>alert(1)</script>",
    '<img src="file:///etc/passwd" onerror="alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    "</td></tr></table><iframe src=//evil.example>",
    "\u202egnp.exe",
    "nul\x00bell\x07line\nbreak",
    "$\\frac{1}{2}$ _hidden",
]


def test_hostile_names_params_and_values_stay_text(tmp_path: Path) -> None:
    big = "B" * (1 << 20)  # a 1 MB name
    with Index(tmp_path / "i.db") as index:
        keys = [
            add_run(index, tmp_path, name, {"lr": name, "<b>key</b>": "1"}, {"loss": [1.0, math.nan, 0.5]})
            for name in HOSTILE_NAMES
        ]
        keys.append(add_run(index, tmp_path, big, {"lr": big, "<b>key</b>": "2"}, {"loss": [math.inf, 2.0]}))
        keys.append(add_run(index, tmp_path, "plain", {"x": "1"}, {"other": [3.0]}))
        start = time.perf_counter()
        with index.reader() as reader:
            page_html = build_report(reader, keys, ReportOptions(metrics=["loss"]))
        elapsed = time.perf_counter() - start
    page = assert_self_contained(page_html)
    assert elapsed < 60  # a ceiling for a loaded machine, not a benchmark
    # the 1 MB name is whole (folded) where the runs table and the params show it: its name, its path (the
    # test's run folder is named after it) and the param lr; cut short where it labels a column
    assert page_html.count(big) == 3
    assert len(page_html) < 4 * len(big) + 2_000_000
    text = "".join(page.texts)
    for name in HOSTILE_NAMES[:4]:
        assert name in text  # shown literally ...
    assert "<script>" not in page_html and "<iframe" not in page_html  # ... never as markup
    assert "nul\\x00bell\\x07line\nbreak" in text  # control characters visible, the newline kept
    assert "\\u202egnp.exe" in text and "\u202e" not in page_html  # the override shown, not obeyed
    # a logged NaN shows as NaN, an infinity as inf, a metric a run lacks as a dash
    assert page.row("loss · max")[:1] == ["1.0"] and page.row("loss · last")[-2:] == ["2.0", "—"]
    assert page.row("loss · max")[-2] == "inf"
    assert page.row("loss · points (steps)")[0] == "3 (0…2, 1 NaN)"


def test_non_finite_summaries_show_as_nan(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db") as index:
        keys = [
            add_run(index, tmp_path, "a", {}, {"loss": [math.nan]}),
            add_run(index, tmp_path, "b", {}, {}),
        ]
        with index.reader() as reader:
            page = read_page(build_report(reader, keys))
    assert page.row("loss · last") == ["NaN", "—"]


class FakeMedia:
    """A media source with what a test puts in it: {(run, key): (kind, {step: bytes})}."""

    def __init__(self, items: dict[tuple[str, str], tuple[str, dict[int | None, bytes | Exception]]]) -> None:
        self.items = items

    def series(self, run_key: str) -> list[MediaSeriesInfo]:
        return [
            MediaSeriesInfo(key, kind, tuple(sorted(s for s in steps if s is not None)))
            for (run, key), (kind, steps) in self.items.items()
            if run == run_key
        ]

    def item(self, run_key: str, key: str, kind: str, step: int | None) -> bytes:
        data = self.items[(run_key, key)][1][step]
        if isinstance(data, Exception):
            raise data
        return data


def _chunk(kind: bytes, body: bytes) -> bytes:
    import zlib

    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def png(tag: bytes) -> bytes:
    """A valid 1 x 1 grey PNG carrying `tag` in a text chunk (so items differ byte-wise)."""
    import zlib

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"tEXt", b"tag\x00" + tag)
        + _chunk(b"IDAT", zlib.compress(b"\x00\x80")) + _chunk(b"IEND", b"")
    )  # fmt: skip


def test_media_are_embedded_byte_for_byte_or_said_why_not(tmp_path: Path) -> None:
    with Index(tmp_path / "i.db") as index:
        a, b, c = (add_run(index, tmp_path, n, {}, {"loss": [1.0]}) for n in "abc")
        source = FakeMedia(
            {
                (a, "preds"): ("image", {10: png(b"10"), 20: png(b"20"), 30: png(b"30")}),
                (b, "preds"): ("image", {25: b"<svg onload='alert(1)'/>"}),
                (c, "preds"): ("image", {5: OSError("gone")}),
                (a, "notes"): ("text", {None: b"<b>hi</b>\x00"}),
            }
        )
        with index.reader() as reader:
            data = gather(
                reader,
                [a, b, c],
                ReportOptions(media=[MediaChoice.parse("preds@25"), MediaChoice("notes")]),
                source,
            )
            page_html = build_report(
                reader,
                [a, b, c],
                ReportOptions(media=[MediaChoice.parse("preds@25"), MediaChoice("notes")]),
                source,
            )
    preds = data.media[0].cells
    assert [(cell.step, cell.data) for cell in preds] == [
        (20, png(b"20")),
        (25, b"<svg onload='alert(1)'/>"),
        (5, None),
    ]
    assert preds[0].note == "the last at or before step 25"
    page = assert_self_contained(page_html)
    assert page.data_uris("image/png") == [png(b"20")]  # exactly the bytes the run holds
    cells = page.row("preds @ 25")
    assert cells[0] == "step 20; the last at or before step 25"
    assert cells[1] == "step 25: not a PNG, JPEG, GIF or WebP image, not embedded"
    assert cells[2] == "cannot be read: gone"
    assert page.row("notes (last step)") == [
        "<b>hi</b>\\x00no step",
        "not logged by this run",
        "not logged by this run",
    ]


def test_report_media_options_parse() -> None:
    assert MediaChoice.parse("images/val@40") == MediaChoice("images/val", 40)
    assert MediaChoice.parse("a@b") == MediaChoice("a@b")
    assert MediaChoice.parse("a@b@7") == MediaChoice("a@b", 7)


# -- the command ---------------------------------------------------------------------------------------
def test_cli_writes_the_page_and_refuses_a_watched_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    shutil.copytree(RUNS / "mlflow" / "filestore", root)
    db = str(tmp_path / "i.db")
    assert main(["index", str(root), "--db", db]) == 0
    capsys.readouterr()
    assert main(["runs", "--json", "--db", db]) == 0
    import json

    keys = [r["key"] for r in json.loads(capsys.readouterr().out)][:3]
    out = tmp_path / "report.html"
    assert main(["report", *keys, "--out", str(out), "--db", db, "--title", "<i>hand-over</i>"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    page = assert_self_contained(out.read_text(encoding="utf-8"))
    assert "<i>hand-over</i>" in "".join(page.texts)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    inside = root / "mlruns" / "report.html"
    assert main(["report", *keys, "--out", str(inside), "--db", db]) == 2
    assert "inside the watched folder" in capsys.readouterr().err
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # not a byte written there
    for bad, reason in (
        (["--out", str(tmp_path / "r.png")], "the report is an .html file"),
        (["--out", str(out), "--group-by", "name"], "--group-by"),
        (["--out", str(out), "--smooth", "1"], "--smooth"),
        (["--out", str(tmp_path / "nope" / "r.html")], "does not exist"),
    ):
        assert main(["report", *keys, *bad, "--db", db]) == 2
        assert reason in capsys.readouterr().err
    assert main(["report", "ffffffffffff", "--out", str(out), "--db", db]) == 2
    assert "no run matches" in capsys.readouterr().err


def test_cli_report_with_grouping_and_metric_choice(tmp_path: Path) -> None:
    root = tmp_path / "sweep"
    shutil.copytree(RUNS / "hydra" / "multirun", root)
    db = tmp_path / "i.db"
    with Index(db) as index:
        index.index([root])
        with index.reader() as reader:
            keys = reader.run_keys()
    out = tmp_path / "r.html"
    done = subprocess.run(
        [sys.executable, "-m", "expdesk", "report", *keys, "--out", str(out), "--db", str(db),
         "--group-by", "params.optimizer.name", "--metric", "loss", "--metric", "w", "--x", "wall"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = assert_self_contained(out.read_text(encoding="utf-8"))
    svgs = page.data_uris("image/svg+xml")
    assert len(svgs) == 2 and all(b'id="mean:sgd"' in s and b'id="mean:momentum"' in s for s in svgs)
    assert "Grouped curves are drawn over steps" in "".join(page.texts)


def test_write_report_leaves_no_half_file(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    write_report("<p>x</p>", out, set())
    assert out.read_text() == "<p>x</p>" and [p.name for p in tmp_path.iterdir()] == ["r.html"]
    np.testing.assert_equal(len(list(tmp_path.iterdir())), 1)


# -- real media: TensorBoard event files written by torch and tensorboardX ------------------------------
MEDIA = RUNS.parent / "media" / "tensorboard"


def test_real_media_embedded_exactly_as_tensorboard_stored_them(tmp_path: Path) -> None:
    import hashlib
    import json

    from expdesk.compare.report.content import MAX_MEDIA_ITEM_BYTES
    from expdesk.compare.report.media import IndexMedia

    truth = json.loads((MEDIA / "GROUND_TRUTH.json").read_text(encoding="utf-8"))["runs"]
    with Index(tmp_path / "i.db") as index:
        index.index([MEDIA])
        with index.reader() as reader:
            by_name = {r["name"]: r["key"] for r in reader.runs_json(reader.run_keys())}
            keys = [by_name["torch_run"], by_name["tbx_run"], by_name["hostile_run"]]
            choices = ["samples/digit@3", "pred", "weights/fc", "notes/text_summary", "tone", "corrupt", "good@0",
                       "junk", "empty_hist"]  # fmt: skip
            options = ReportOptions(media=[MediaChoice.parse(c) for c in choices])
            page_html = build_report(reader, keys, options, IndexMedia(reader, MAX_MEDIA_ITEM_BYTES))
    page = assert_self_contained(page_html)
    sha = {hashlib.sha256(b).hexdigest() for b in page.data_uris("image/png")}
    digit = next(e for e in truth["torch_run"]["images"]["samples/digit"] if e["step"] == 3)
    pred = truth["tbx_run"]["images"]["pred"][-1]
    good = truth["hostile_run"]["images"]["good"][0]
    assert sha == {digit["sha256"], pred["sha256"], good["sha256"]}  # byte for byte, and nothing else
    (wav,) = page.data_uris("audio/wav")
    assert hashlib.sha256(wav).hexdigest() == truth["torch_run"]["audio"]["tone"][0]["sha256"]
    assert page.row("pred (last step)") == [
        "not logged by this run",
        f"step {pred['step']}",
        "not logged by this run",
    ]
    text = truth["torch_run"]["text"]["notes/text_summary"][-1]
    assert page.row("notes/text_summary (last step)")[0] == f"{text['text'][0]}step {text['step']}"
    assert (
        page.row("corrupt (last step)")[2]
        == "step 0: a PNG that does not decode (the CRC of its 'IHDR' chunk does not match)"
    )
    assert page.row("junk (last step)")[2] == "step 0: not a PNG, JPEG, GIF or WebP image, not embedded"
    assert page.row("empty_hist (last step)")[2] == "a histogram with no buckets"
    # the histogram drawn, and its buckets exactly as `expdesk media` writes them, folded under it
    hist = next(e for e in truth["torch_run"]["histograms"]["weights/fc"] if e["step"] == 4)
    cell = page.row("weights/fc (last step)")[0]
    assert cell.startswith("left,right,count\n") and cell.endswith("step 4")
    assert cell.count("\n") == hist["buckets"] + 1
    assert len(page.data_uris("image/svg+xml")) == 3 + 1  # 3 metric charts (acc, after, loss) + 1 histogram


def test_a_run_with_thousands_of_keys_makes_a_bounded_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from expdesk.compare.report import render

    monkeypatch.setattr(render, "MAX_TABLE_KEYS", 50)
    with Index(tmp_path / "i.db") as index:
        metrics = {f"m{i:04d}": [float(i)] for i in range(300)}
        keys = [
            add_run(index, tmp_path, "a", {f"p{i:04d}": str(i) for i in range(300)}, metrics),
            add_run(index, tmp_path, "b", {f"p{i:04d}": "x" for i in range(300)}, {}),
        ]
        with index.reader() as reader:
            page = read_page(build_report(reader, keys, ReportOptions(metrics=["m0000"])))
    texts = "".join(page.texts)
    assert (
        "The first 50 of 300 params (by name)" in texts and "The first 50 of 300 metrics (by name)" in texts
    )
    assert page.row("p0049") == ["49", "x"] and page.row("m0049 · last") == ["49.0", "—"]
    with pytest.raises(KeyError):
        page.row("p0050")
    with pytest.raises(KeyError):
        page.row("m0050 · last")


def test_cli_embeds_media(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import hashlib
    import json

    truth = json.loads((MEDIA / "GROUND_TRUTH.json").read_text(encoding="utf-8"))["runs"]["torch_run"]
    db = str(tmp_path / "i.db")
    assert main(["index", str(MEDIA), "--db", db]) == 0
    capsys.readouterr()
    assert main(["runs", "--json", "--db", db]) == 0
    key = next(r["key"] for r in json.loads(capsys.readouterr().out) if r["name"] == "torch_run")
    out = tmp_path / "r.html"
    assert (
        main(["report", key, "--out", str(out), "--db", db, "--media", "samples/digit@2", "--media", "nope"])
        == 0
    )
    page = assert_self_contained(out.read_text(encoding="utf-8"))
    digit = next(e for e in truth["images"]["samples/digit"] if e["step"] == 2)
    assert [hashlib.sha256(b).hexdigest() for b in page.data_uris("image/png")] == [digit["sha256"]]
    assert page.row("nope (last step)") == ["not logged by this run"]
