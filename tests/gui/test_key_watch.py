"""KeyWatch's bookkeeping: one keys job at a time, the first and every stale one measures, changed runs are
checked against their last prints, and nothing noted while a job runs (or checked by a job that failed) is
forgotten."""

from __future__ import annotations

from expdesk.gui.window.key_watch import KeysAnswer, KeyWatch


def test_one_job_at_a_time_and_nothing_noted_meanwhile_is_lost() -> None:
    watch = KeyWatch()
    first = watch.request()
    assert first is not None and first.force and first.known == {}
    assert watch.request() is None, "a second job while one runs"
    watch.changed({"a", "b"})  # a live burst while the first job runs
    watch.answered(first, KeysAnswer({}))
    second = watch.request()
    assert second is not None and not second.force and second.known == {"a": None, "b": None}
    watch.changed({"b"})  # b logs again while its print is read
    watch.answered(second, KeysAnswer({"a": "pa", "b": "pb"}))
    third = watch.request()
    assert third is not None and not third.force and third.known == {"b": "pb"}, (
        "b noted again: checked again"
    )
    watch.answered(third, KeysAnswer({"b": "pb"}))
    assert watch.request() is None and not watch.pending()


def test_a_failed_job_leaves_its_work_to_the_next() -> None:
    watch = KeyWatch()
    first = watch.request()
    assert first is not None
    watch.answered(first, KeysAnswer({}))
    watch.changed({"a"})
    watch.stale()  # new runs came
    failing = watch.request()
    assert failing is not None and failing.force and failing.known == {"a": None}
    watch.answered(failing, None)
    assert watch.pending()
    again = watch.request()
    assert again is not None and again.force and again.known == {"a": None}
