"""The judge as an arena voter: both models of an experiment answer a prompt, the pairwise judge
compares the answers in both orders (a tie when the orders disagree), and the vote is recorded
with the voter `judge:<model>`. Judge votes never enter the experiment's verdict, the preference
pairs or the ranking unless asked for (ftui.ab.arena.VOTERS).

    got = judge_arena(store, exp_id, judge, prompts, host=host, home=home, parallel=4)
    one = vote_on_answers(store, exp, judge, messages, answer_a, answer_b, host=host, home=home)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlmodel import col, func, select

from ftui.errors import FtuiError
from ftui.judge.pairwise import Pair, PairVerdict, judge_pairs, summarize
from ftui.judge.rubrics import rubric_for
from ftui.judge.run import Judge
from ftui.store import ArenaVote, Store


def _record(store: Store, exp, judge: Judge, messages, answer_a: str, answer_b: str,
            verdict: PairVerdict) -> ArenaVote:
    from ftui.ab.arena import judge_voter, record_vote

    # left: the arm shown first in the first of the two asks (both orders are always asked)
    return record_vote(store, model_a=exp.model_a, model_b=exp.model_b, left="A",
                       winner=verdict.winner, messages=messages, answer_a=answer_a,
                       answer_b=answer_b, experiment_id=exp.id, voter=judge_voter(judge.ref))


def vote_on_answers(store: Store, experiment: int | str, judge: Judge,
                    messages: list[dict[str, Any]], answer_a: str, answer_b: str, *, host: str,
                    home: Path, rubric: str | None = None) -> PairVerdict:
    """The judge's vote on two answers already shown (the arena screen's): recorded unless
    it failed (then nothing is stored and the verdict says why)."""
    from ftui.ab.experiments import get_experiment

    exp = get_experiment(store, experiment)
    verdict = judge_pairs(judge, [Pair(messages, answer_a, answer_b)],
                          rubric_for("standard", home, rubric), host=host, home=home,
                          parallel=2)[0]
    if verdict.winner != "failed":
        _record(store, exp, judge, messages, answer_a, answer_b, verdict)
    return verdict


def _judged_prompts(store: Store, experiment_id: int, voter: str) -> set[str]:
    with store.session() as s:
        return set(s.exec(select(ArenaVote.prompt_json).where(
            ArenaVote.experiment_id == experiment_id, ArenaVote.voter == voter)))


def judge_arena(store: Store, experiment: int | str, judge: Judge,
                prompts: Sequence[list[dict[str, Any]]], *, host: str, home: Path,
                rubric: str | None = None, parallel: int = 4,
                on_progress: Callable[[int, int], None] | None = None,
                cancel: threading.Event | None = None) -> dict[str, Any]:
    """Both arms answer each prompt this judge has not voted on in this experiment yet; the
    judge votes on each pair. A prompt either arm failed to answer (an error or an empty
    answer) gets no vote, as in the arena screen."""
    from ftui.ab.arena import answer_pair, judge_voter
    from ftui.ab.experiments import get_experiment

    if parallel < 1:
        raise FtuiError(f"--parallel {parallel} is below 1", "ask for 1 or more at once")
    exp = get_experiment(store, experiment)
    cancel = cancel or threading.Event()
    voter = judge_voter(judge.ref)
    seen = _judged_prompts(store, exp.id, voter)
    todo = [m for m in prompts if json.dumps(m) not in seen]
    done = [0]

    def answer(messages) -> tuple[str, str] | None:
        if cancel.is_set():
            return None
        a, b = answer_pair(store, exp.model_a, exp.model_b, messages, home=home, host=host)
        done[0] += 1
        if on_progress:
            on_progress(done[0], len(todo))
        texts = [g.text for g in (a, b) if not isinstance(g, FtuiError)]
        return (texts[0], texts[1]) if len(texts) == 2 and all(t.strip() for t in texts) \
            else None

    from ftui.inference.router import target_of

    try:  # two local models answering several prompts at once would only fight over the device
        local = any(target_of(store, ref)[0]["backend"] == "local"
                    for ref in (exp.model_a, exp.model_b))
    except FtuiError:
        local = False  # answer_pair reports the unknown model in place of its answers
    workers = 1 if local else parallel
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ftui-arena-judge") as pool:
        answered = list(pool.map(answer, todo))
    if cancel.is_set():
        raise FtuiError("judging the arena was cancelled; no vote was recorded", "")
    pairs = [(m, got) for m, got in zip(todo, answered, strict=True) if got is not None]
    verdicts = judge_pairs(judge, [Pair(m, a, b) for m, (a, b) in pairs],
                           rubric_for("standard", home, rubric), host=host, home=home,
                           parallel=parallel, cancel=cancel)
    recorded = 0
    for (messages, (a, b)), verdict in zip(pairs, verdicts, strict=True):
        if verdict.winner != "failed":
            _record(store, exp, judge, messages, a, b, verdict)
            recorded += 1
    out = summarize(verdicts)
    out.update(experiment=exp.name, voter=voter, judge_digest=judge.digest,
               prompts=len(prompts), already_judged=len(prompts) - len(todo),
               unanswered=len(todo) - len(pairs), recorded=recorded)
    return out


def vote_counts(store: Store, experiment_id: int | None = None) -> dict[str, int]:
    """How many arena votes each voter cast (in one experiment, or all)."""
    stmt = select(ArenaVote.voter, func.count()).group_by(col(ArenaVote.voter))
    if experiment_id is not None:
        stmt = stmt.where(ArenaVote.experiment_id == experiment_id)
    with store.session() as s:
        return {voter: n for voter, n in s.exec(stmt)}


def judge_arena_summary(store: Store, experiment_id: int) -> dict[str, Any] | None:
    """The judges' votes in one experiment, apart from people's: B's win rate over decisive
    votes with a Wilson interval (None when no judge voted)."""
    from ftui.ab.arena import JUDGE_PREFIX
    from ftui.ab.stats import wilson

    with store.session() as s:
        votes = list(s.exec(select(ArenaVote).where(
            ArenaVote.experiment_id == experiment_id,
            col(ArenaVote.voter).startswith(JUDGE_PREFIX))))
    if not votes:
        return None
    decisive = [v for v in votes if v.winner in ("A", "B")]
    b_wins = sum(1 for v in decisive if v.winner == "B")
    w = wilson(b_wins, len(decisive))
    return {"votes": len(votes), "decisive": len(decisive), "b_wins": b_wins,
            "ties": sum(1 for v in votes if v.winner == "tie"),
            "voters": sorted({v.voter for v in votes}),
            "b_win_rate": w.estimate if w else None,
            "b_win_rate_ci95": w.as_list() if w else None}
