"""When a Hydra job ran, from what Hydra recorded: the job log's first stamp, else the output folder's name.

Hydra names output folders from a pattern in `hydra.yaml` (`hydra.run.dir`, or `hydra.sweep.dir` +
`hydra.sweep.subdir` for a multirun job), usually with `${now:<strftime format>}` in it:
`outputs/${now:%Y-%m-%d}/${now:%H-%M-%S}`. Matching the pattern against the folder's actual path gives back
the moment Hydra put into the name, whatever format the project chose. `${now:}` is the machine's local
time without a zone, like the log's stamps; both are read as local time here.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

#: strftime directives Hydra users put in folder names, as regex groups (the datetime fields they give)
_DIRECTIVES = {
    "Y": r"(?P<Y>\d{4})",
    "y": r"(?P<y>\d{2})",
    "m": r"(?P<m>\d{1,2})",
    "d": r"(?P<d>\d{1,2})",
    "H": r"(?P<H>\d{1,2})",
    "M": r"(?P<M>\d{1,2})",
    "S": r"(?P<S>\d{1,2})",
    "f": r"(?P<f>\d{1,6})",
    "j": r"(?P<j>\d{1,3})",
    "b": r"(?P<b>[A-Za-z]{3})",
    "%": "%",
}
_INTERPOLATION = re.compile(r"\$\{([^{}]*)\}")
_LOG_STAMP = re.compile(rb"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),(\d{3})\]")


def _format_regex(fmt: str, seen: set[str]) -> str | None:
    """An strftime format as a regex; None when it uses a directive we do not read back."""
    out = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            code = fmt[i + 1]
            pattern = _DIRECTIVES.get(code)
            if pattern is None:
                return None
            if code != "%":
                if code in seen:
                    pattern = f"(?P={code})"  # the same field twice must hold the same value
                seen.add(code)
            out.append(pattern)
            i += 2
        else:
            out.append(re.escape(fmt[i]))
            i += 1
    return "".join(out)


def pattern_regex(pattern: str) -> re.Pattern[str] | None:
    """A Hydra output-dir pattern as a regex matching the tail of a real path, or None without `${now:}`."""
    if "${now:" not in pattern:
        return None
    # only the part from the first `${now:` on is compared: what comes before (`${paths.log_dir}`, an absolute
    # path of another machine) may span any number of folders
    start = pattern.rfind("/", 0, pattern.index("${now:")) + 1
    tail = pattern[start:]
    out = []
    seen: set[str] = set()
    pos = 0
    for match in _INTERPOLATION.finditer(tail):
        out.append(re.escape(tail[pos : match.start()]))
        expr = match.group(1)
        if expr.startswith("now:"):
            part = _format_regex(expr[4:], seen)
            if part is None:
                return None
            out.append(part)
        else:
            out.append(r"[^/]*?")  # `${hydra.job.num}`, `${hydra.job.override_dirname}`: one folder's worth
        pos = match.end()
    out.append(re.escape(tail[pos:]))
    try:
        return re.compile(r"(?:^|/)" + "".join(out) + r"$")
    except re.error:
        return None


def folder_time(folder: Path, pattern: str) -> float | None:
    """Epoch seconds of the moment encoded in `folder`'s path by a Hydra dir pattern, or None."""
    regex = pattern_regex(pattern.strip().rstrip("/"))
    if regex is None:
        return None
    match = regex.search(folder.as_posix().rstrip("/"))
    if match is None:
        return None
    fields = {k: v for k, v in match.groupdict().items() if v is not None}
    try:
        year = int(fields["Y"]) if "Y" in fields else 2000 + int(fields["y"])
        month = datetime.strptime(fields["b"], "%b").month if "b" in fields else int(fields["m"])
        moment = datetime(
            year,
            month,
            int(fields["d"]),
            int(fields.get("H", 0)),
            int(fields.get("M", 0)),
            int(fields.get("S", 0)),
            int(fields.get("f", "0").ljust(6, "0")),
        )
    except (KeyError, ValueError, OverflowError):
        return None  # no date in the name (a time of day alone says too little), or not a real date
    if "H" not in fields:
        return None
    try:
        return moment.timestamp()  # naive: the local time `${now:}` used
    except (OverflowError, OSError, ValueError):
        return None


def log_start(folder: Path) -> float | None:
    """Epoch seconds of the first record of the job's `*.log` (Hydra's `[YYYY-mm-dd HH:MM:SS,mmm]` format)."""
    try:
        logs = sorted(
            e.name for e in os.scandir(folder) if e.name.endswith(".log") and e.is_file(follow_symlinks=False)
        )
    except OSError:
        return None
    for name in logs:
        try:
            fd = os.open(
                folder / name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
            )
        except OSError:
            continue
        try:
            head = os.read(fd, 64)
        except OSError:
            continue
        finally:
            os.close(fd)
        match = _LOG_STAMP.match(head)
        if match:
            try:
                stamp = datetime.strptime(match.group(1).decode(), "%Y-%m-%d %H:%M:%S")
            except ValueError:
                continue
            return stamp.timestamp() + int(match.group(2)) / 1000  # naive: the machine's local time
    return None
