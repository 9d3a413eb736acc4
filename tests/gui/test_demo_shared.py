"""Two `expdesk --demo` at once: the second shares the first's workspace instead of wiping it, and only one
live simulator writes at a time (issue 20 #4)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from pytestqt.qtbot import QtBot

from expdesk.demo import LiveRunSimulator, prepare_workspace, release_workspace

REPO = Path(__file__).resolve().parents[2]

FIRST_DEMO = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from expdesk.demo import LiveRunSimulator, prepare_workspace
    workspace = prepare_workspace(Path(sys.argv[1]))
    simulator = LiveRunSimulator(workspace, interval=0.02)
    simulator.start()
    print(simulator.current_run, flush=True)
    sys.stdin.read()  # until the test closes our stdin
    simulator.stop()
    """
)


def test_second_demo_shares_the_running_workspace(tmp_path: Path, qtbot: QtBot) -> None:
    target = tmp_path / "demo-workspace"
    first = subprocess.Popen(
        [sys.executable, "-c", FIRST_DEMO, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    simulator: LiveRunSimulator | None = None
    try:
        assert first.stdout is not None
        live_run = Path(first.stdout.readline().strip())
        metrics = live_run / "metrics.jsonl"
        qtbot.waitUntil(lambda: metrics.stat().st_size > 0, timeout=10_000)
        again = prepare_workspace(target)  # the second demo starting
        assert again == target
        assert metrics.is_file(), "the second demo wiped the first one's workspace"
        size = metrics.stat().st_size
        qtbot.waitUntil(lambda: metrics.stat().st_size > size, timeout=10_000)  # the first keeps writing
        simulator = LiveRunSimulator(target, interval=0.02)
        simulator.start()
        assert not simulator.writing, "two simulators would write into one workspace"
        assert len([p for p in (target / "live").iterdir() if p.is_dir()]) == 1
        assert first.stdin is not None
        first.stdin.close()  # the first demo closes: the second one's simulator takes over
        assert first.wait(timeout=30) == 0
        qtbot.waitUntil(lambda: simulator is not None and simulator.writing, timeout=10_000)
        assert live_run.is_dir(), "the shared workspace outlives the demo that created it"
    finally:
        if simulator is not None:
            simulator.stop()
        if first.poll() is None:
            first.kill()
            first.wait()
        for stream in (first.stdin, first.stdout):
            if stream is not None:
                stream.close()
        release_workspace(target)


def test_a_lone_demo_still_starts_from_a_fresh_copy(tmp_path: Path) -> None:
    target = prepare_workspace(tmp_path / "demo-workspace")
    (target / "plain" / "scratch").mkdir()
    release_workspace(target)
    assert not (prepare_workspace(target) / "plain" / "scratch").exists()
    release_workspace(target)
