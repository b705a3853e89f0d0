"""The differential test's own parts, without servers: the normalizer, the comparison and the list of
differences (every row parses and says why)."""

from __future__ import annotations

from tests.differential import differences
from tests.differential.compare import MISSING, Difference, compare
from tests.differential.normalize import Normalizer

REASONS = ("reference bug", "deliberate", "not yet fixed")


def test_ids_are_named_by_first_appearance_within_their_key():
    a, b, c = ("0190a4c2-0000-7000-8000-00000000000%d" % i for i in (1, 2, 3))
    norm = Normalizer()
    norm.label(a, "thread")
    # keys are visited in sorted order, whatever order a server wrote them in
    assert norm({"y": f"child:{b}", "x": {"run_id": c}, "thread_id": a, "run_id": b}) == {
        "run_id": "<run_id:1>", "thread_id": "<thread>", "x": {"run_id": "<run_id:2>"}, "y": "child:<run_id:1>"}
    # an id only one side has, under another key, does not shift these numbers
    assert Normalizer()({"request_id": c, "run_id": b})["run_id"] == "<run_id:1>"


def test_timestamps_keep_only_their_shape():
    norm = Normalizer()
    assert norm("2026-12-02T01:35:58.841757+00:00") == "<time:frac:+00:00>"
    assert norm("2026-12-02T01:35:58Z") == "<time:nofrac:Z>"
    assert norm("2026-12-02T01:35:58") == "<time:nofrac:nozone>"
    assert norm("http://127.0.0.1:8123/x") == "http://127.0.0.1:<port>/x"


def test_one_missing_event_is_one_difference():
    ref = {"events": [{"event": "metadata"}, {"event": "values", "data": 1}, {"event": "updates", "data": 2}]}
    ours = {"events": [{"event": "metadata"}, {"event": "updates", "data": 2}, {"event": "end"}]}
    assert compare("s", "stream", ref, ours) == [
        Difference("s", "stream.events[1:values]", {"event": "values", "data": 1}, MISSING),
        Difference("s", "stream.events[+2:end]", MISSING, {"event": "end"}),
    ]


def test_a_failed_call_on_one_side_is_one_difference():
    assert compare("s", "get", {"__status__": 422}, {"a": 1, "b": 2}) == [Difference("s", "get", {"__status__": 422}, {"a": 1, "b": 2})]
    assert [d.path for d in compare("s", "x", {"status": 200, "body": {"a": 1}}, {"status": 404, "body": {"detail": "no"}})] == ["x.status", "x.body"]


def test_globs_match_anything_only_at_stars():
    pattern = differences.glob("*.events[*:end]")
    assert pattern.match("stream.events[12:end]")
    assert not pattern.match("stream.events[12:endless]")
    assert not differences.glob("a.b").match("aXb")


def test_every_listed_difference_parses_and_says_why():
    listed = differences.load()
    assert listed, "docs/differences.md lists nothing"
    assert len({e.id for e in listed}) == len(listed), "duplicate ids"
    for entry in listed:
        assert entry.what, entry.id
        assert any(reason in entry.why for reason in REASONS), f"{entry.id}: the reason must say one of {REASONS}"
