"""The status bar's count of runs, in the same words everywhere: a run is listed when it is on disk, not
deleted in its tool and not hidden; every number that differs from the table's says why (hidden, deleted in
the tool, errors, gone). Pure text: no Qt."""

from __future__ import annotations

from collections.abc import Mapping


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def count_text(
    shown: int,
    groups: int,
    filtering: bool,
    counts: Mapping[str, int],
    filter_state: str = "",
    showing_hidden: bool = False,
) -> str:
    """`shown` rows of the table; `counts` from `table.run_counts`; `filter_state` from the filter bar."""
    if filter_state == "invalid":
        # the table still shows the last valid filter's rows: a number here would be read as this filter's
        return "Filter not applied: fix the expression (the table shows the previous filter's runs)"
    listed = counts.get("runs", shown) + (counts.get("hidden", 0) if showing_hidden else 0)
    text = f"{shown:,} of {plural(listed, 'run')} match the filter" if filtering else plural(shown, "run")
    if filter_state == "unknown" and filtering:
        text += " (the filter names a key no run has)"
    if groups:
        text += f" in {plural(groups, 'group')}"
    extra = []
    if counts.get("hidden") and not showing_hidden:
        extra.append(f"{counts['hidden']:,} hidden")
    if counts.get("deleted"):
        extra.append(f"{counts['deleted']:,} deleted in their tool")
    if counts.get("errors"):
        extra.append(f"{counts['errors']:,} with read errors")
    if counts.get("gone"):
        extra.append(f"{counts['gone']:,} gone from disk")
    return text + ("  ·  " + " · ".join(extra) if extra else "")
