"""Judge votes in the arena (issue 13): recorded with the voter judge:<model>, asked in both
orders (a tie when they disagree), kept out of the verdict, the pairs and the default ranking,
counted in the ranking when asked for. Real HTTP: the stand-in Ollama plays both arms and a
scripted judge."""

from __future__ import annotations

import pytest
from ollama_standin import StandIn
from sqlmodel import select
from test_judge import JUDGE, chats, scripted_pair_judge

from ftui import ab
from ftui.ab.arena import HUMAN, export_pairs, ranking, record_vote, voter_filter
from ftui.ab.report import report
from ftui.errors import FtuiError
from ftui.judge.arena import judge_arena, judge_arena_summary, vote_counts, vote_on_answers
from ftui.judge.run import Judge
from ftui.store import ArenaVote

VOTER = f"judge:{JUDGE}"


def arm_a(body: dict) -> str:
    """Model A answers well (the judge sees GOOD) only where the prompt asks for it."""
    asked = body["messages"][-1]["content"]
    return "GOOD: sorted(xs)" if "good-a" in asked else "a plain answer"


@pytest.fixture
def server():
    with StandIn(models={JUDGE: "", "a:1": "", "b:1": "b plain answer", "empty:1": " "}) as s:
        s.scripted[JUDGE] = scripted_pair_judge
        s.scripted["a:1"] = arm_a
        yield s


def judge_of() -> Judge:
    return Judge(JUDGE, {"backend": "ollama", "name": JUDGE}, "sha256:" + "a" * 64)


def prompts(*texts: str) -> list[list[dict]]:
    return [[{"role": "user", "content": t}] for t in texts]


def test_judge_votes_both_orders_recorded_apart_from_people(store, server, tmp_path):
    exp = ab.create_experiment(store, name="e", alias="assistant", model_a="a:1",
                               model_b="b:1", salt="s", primary_metric="win_rate",
                               min_samples=1)
    asked = prompts("p1 good-a", "p2", "p3 good-a")
    got = judge_arena(store, exp.id, judge_of(), asked, host=server.url, home=tmp_path,
                      parallel=3)
    # p2: two plain answers, the scripted judge always picks the first shown: the orders
    # disagree, a tie; the others A in both orders
    assert (got["a_wins"], got["b_wins"], got["ties"], got["recorded"]) == (2, 0, 1, 3)
    assert got["order_disagreements"] == 1 and got["voter"] == VOTER
    assert sum(1 for m, p, b in server.requests if p == "/api/chat" and b["model"] == JUDGE) == 6
    with store.session() as s:
        votes = list(s.exec(select(ArenaVote).order_by(ArenaVote.id)))
    assert [(v.voter, v.winner) for v in votes] == [(VOTER, "A"), (VOTER, "tie"), (VOTER, "A")]
    assert votes[0].answer_a.startswith("GOOD") and votes[0].answer_b == "b plain answer"

    # never silently mixed: the verdict, the pairs and the default ranking count people only
    r = report(store, exp.id)
    assert r["arena"]["votes"] == 0 and r["verdict"].startswith("not enough data")
    assert ranking(store) == []
    with_judges = ranking(store, rounds=20, voters="all")
    assert [x["model"] for x in with_judges] == ["a:1", "b:1"]
    assert ranking(store, rounds=20, voters="judges") == with_judges
    with pytest.raises(FtuiError, match=r"no decisive arena votes yet \(people's votes only\)"):
        export_pairs(store, tmp_path / "pairs.jsonl")
    assert not (tmp_path / "pairs.jsonl").exists()
    assert export_pairs(store, tmp_path / "judged.jsonl", voters="all").written == 2
    summary = judge_arena_summary(store, exp.id)
    assert (summary["votes"], summary["decisive"], summary["b_wins"]) == (3, 2, 0)
    assert summary["voters"] == [VOTER]
    from ftui.judge.experiment import judged_lines, judged_report

    shown = judged_lines(judged_report(store, exp.id))  # F5's lines: apart, labelled
    assert any(f"judges' votes (kept out of the verdict): 3 by {VOTER} · B wins 0/2" in line
               for line in shown)

    # a person votes: theirs counts, and each count is kept apart
    record_vote(store, model_a="a:1", model_b="b:1", left="B", winner="B", messages=asked[1],
                answer_a="x", answer_b="y", experiment_id=exp.id)
    assert report(store, exp.id)["arena"]["votes"] == 1
    assert vote_counts(store, exp.id) == {HUMAN: 1, VOTER: 3}
    assert [x["model"] for x in ranking(store, rounds=20)] == ["b:1", "a:1"]

    # judging again costs nothing: prompts this judge voted on are skipped
    before = chats(server)
    again = judge_arena(store, exp.id, judge_of(), asked, host=server.url, home=tmp_path)
    assert (again["already_judged"], again["recorded"], chats(server)) == (3, 0, before)


def test_failed_answers_and_unreadable_judges_record_no_vote(store, server, tmp_path):
    exp = ab.create_experiment(store, name="e", alias="assistant", model_a="empty:1",
                               model_b="b:1", salt="s")
    got = judge_arena(store, exp.id, judge_of(), prompts("q"), host=server.url, home=tmp_path)
    assert (got["unanswered"], got["recorded"]) == (1, 0)  # an empty answer: no vote, as people
    verdict = vote_on_answers(store, exp.id, judge_of(), prompts("q")[0], "fine", "MALFORMED",
                              host=server.url, home=tmp_path)
    assert verdict.winner == "failed" and vote_counts(store) == {}
    verdict = vote_on_answers(store, exp.id, judge_of(), prompts("q")[0], "GOOD one", "meh",
                              host=server.url, home=tmp_path)
    assert verdict.winner == "A" and vote_counts(store) == {VOTER: 1}


@pytest.mark.parametrize("voter", ["", "judge:", "robot", "Judge:x", "human "])
def test_a_vote_names_a_person_or_a_judge(store, voter):
    with pytest.raises(FtuiError):
        record_vote(store, model_a="a", model_b="b", left="A", winner="A", messages=[],
                    answer_a="", answer_b="", voter=voter)


def test_unknown_voters_choice_is_refused():
    with pytest.raises(FtuiError, match="unknown voters"):
        voter_filter(select(ArenaVote), "robots")


async def test_arena_screen_judge_votes_on_the_shown_answers_and_shows_it_after_yours(
        store, server, tmp_path):
    from ftui.screens.app import FtuiApp
    from ftui.screens.arena import ArenaScreen
    from ftui.screens.dialogs import PickDialog, TextInputDialog
    from ftui.screens.experiments import ExperimentsScreen
    from test_models_screen import wait_until
    from textual.widgets import Input

    from ftui.config import Settings
    from ftui.ingest import log_interaction

    log_interaction(store, [{"role": "user", "content": "sort please good-a"},
                            {"role": "assistant", "content": "ok"}])
    exp = ab.create_experiment(store, name="e", alias="assistant", model_a="a:1",
                               model_b="b:1", salt="s")
    app = FtuiApp(store, Settings(home=tmp_path, database_url=store.url,
                                  ollama_host=server.url))
    notes: list[str] = []
    async with app.run_test(size=(160, 44)) as pilot:
        app.notify = lambda message, **kw: notes.append(str(message))
        await pilot.press("f5")
        await wait_until(pilot, lambda: isinstance(app.screen, ExperimentsScreen)
                         and app.screen.selected == exp.id)
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, PickDialog))
        await pilot.press("enter")  # logged prompts
        await wait_until(pilot, lambda: isinstance(app.screen, ArenaScreen))
        arena = app.screen
        await wait_until(pilot, lambda: arena.ready)
        await pilot.press("J")
        await wait_until(pilot, lambda: isinstance(app.screen, TextInputDialog))
        app.screen.query_one("#value", Input).value = JUDGE
        await pilot.press("enter")
        await wait_until(pilot, lambda: arena.judge_votes == 1)
        assert any("its choice shows after yours" in n for n in notes)
        judge_side = arena._as_side("A")  # A said GOOD: the judge picks it in both orders
        other = "right" if judge_side == "left" else "left"
        await pilot.press(other)  # the operator disagrees with the judge
        await wait_until(pilot, lambda: arena.votes == 1)
        assert any(f"the judge chose {judge_side}" in n for n in notes)
    with store.session() as s:
        votes = {v.voter: v.winner for v in s.exec(select(ArenaVote))}
    assert votes == {VOTER: "A", HUMAN: "B"}
    assert report(store, exp.id)["arena"]["b_wins"] == 1  # the person's vote only


def test_cli_ranking_and_pairs_say_whose_votes(store, tmp_path, capsys, monkeypatch):
    import json

    from ftui.cli import main

    monkeypatch.setenv("FTUI_HOME", str(tmp_path))
    msgs = [{"role": "user", "content": "q"}]
    for winner, voter in (("A", HUMAN), ("B", VOTER), ("B", VOTER)):
        record_vote(store, model_a="m1", model_b="m2", left="A", winner=winner, messages=msgs,
                    answer_a="one", answer_b="two", voter=voter)
    assert main(["--db", store.url, "ab", "ranking", "--json"]) == 0
    people = json.loads(capsys.readouterr().out)
    assert people["voters"] == "human" and people["ranking"][0]["model"] == "m1"
    assert main(["--db", store.url, "ab", "ranking", "--voters", "all"]) == 0
    out = capsys.readouterr().out
    assert "people's and judges' votes" in out and out.index("m2") < out.index("m1")
    assert main(["--db", store.url, "ab", "pairs", "--out", str(tmp_path / "p.jsonl"),
                 "--voters", "judges", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pairs"] == 2


def test_preference_versions_take_people_votes_only_and_refuse_a_judge(store, tmp_path):
    from ftui import registry
    from ftui.curate import DatasetSpec, build_dataset
    from ftui.registry.evaluate import evaluate

    for n, voter in enumerate((HUMAN, VOTER, VOTER)):
        record_vote(store, model_a="m1", model_b="m2", left="A", winner="B",
                    messages=[{"role": "user", "content": f"Name a prime above {10 + n}."}],
                    answer_a="Nine.", answer_b="Eleven.", voter=voter)
    spec = DatasetSpec(kind="preference", pair_sources=("arena",), near_dup=None, val=0.0)
    version, result, _ = build_dataset(store, "prefs", spec)
    assert result.stats["sources"]["all"] == {"arena": 1}  # the judge's two are not people's
    model = registry.register(store, kind="ollama", name="m2", ollama_name="m2")
    with pytest.raises(FtuiError, match="preference accuracy") as err:
        evaluate(store, model.id, home=tmp_path, host="http://127.0.0.1:9",
                 dataset_id=version.id, split="train", judge=JUDGE)
    assert "leave out the judge" in str(err.value)
