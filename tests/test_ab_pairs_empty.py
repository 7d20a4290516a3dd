"""`ftui ab pairs --out X` with no decisive arena vote says why and writes nothing (it wrote an
empty file and exited 0: walkthrough 3, row 21)."""

from __future__ import annotations

from ftui.ab.arena import record_vote
from ftui.cli import main

MSGS = [{"role": "user", "content": "hi"}]


def test_no_arena_votes_is_a_clear_refusal_and_no_file(store, tmp_path, capsys):
    out = tmp_path / "arena.jsonl"
    assert main(["--db", store.url, "ab", "pairs", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no decisive arena votes yet" in err and "fix:" in err and "Traceback" not in err
    assert "F5" in err
    assert not out.exists()


def test_only_ties_or_only_judges_votes_say_so(store, tmp_path, capsys):
    for winner in ("tie", "both_bad"):
        record_vote(store, model_a="m1", model_b="m2", left="A", winner=winner, messages=MSGS,
                    answer_a="one", answer_b="two")
    record_vote(store, model_a="m1", model_b="m2", left="A", winner="B", messages=MSGS,
                answer_a="one", answer_b="two", voter="judge:big")
    out = tmp_path / "arena.jsonl"
    assert main(["--db", store.url, "ab", "pairs", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "people's votes only" in err and "2 ties or both-bad" in err, err
    assert "--voters all" in err
    assert not out.exists()
    assert main(["--db", store.url, "ab", "pairs", "--out", str(out), "--voters", "all"]) == 0
    assert "wrote 1 preference pairs" in capsys.readouterr().out
