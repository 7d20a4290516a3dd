"""The blind arena: two models answer the same prompt, the operator votes without seeing which is
which. The side each model is shown on is drawn per prompt and stored, so position bias can be
measured. Votes export as preference pairs and rank many models (Bradley-Terry).

A judge model can vote too (`judge_votes`): asked in both orders, a tie when they disagree,
recorded with the voter `judge:<model>`. Verdicts, exports and the ranking count people's votes
only unless judge votes are asked for (`voters="all"` or `"judges"`), and say which."""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from ftui.conversation import reply_index
from ftui.errors import FtuiError
from ftui.inference import Generation
from ftui.store import ArenaVote, Interaction, Store

WINNERS = ("A", "B", "tie", "both_bad")
HUMAN = "human"
JUDGE_PREFIX = "judge:"
VOTERS = ("human", "all", "judges")  # which votes a ranking counts
VOTERS_LABEL = {"human": "people's votes only", "all": "people's and judges' votes",
                "judges": "judges' votes only"}


def judge_voter(judge_ref: str) -> str:
    return f"{JUDGE_PREFIX}{judge_ref}"


def voter_filter(stmt, voters: str = "human"):
    """`stmt` over ArenaVote restricted to the votes `voters` names (see VOTERS)."""
    if voters not in VOTERS:
        raise FtuiError(f"unknown voters {voters!r}", f"use one of {', '.join(VOTERS)}")
    if voters == "human":
        return stmt.where(ArenaVote.voter == HUMAN)
    if voters == "judges":
        return stmt.where(col(ArenaVote.voter).startswith(JUDGE_PREFIX))
    return stmt


def _prompt_part(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation up to (not including) its reply: the prompt evaluation answers too."""
    last = reply_index(messages)
    return messages[:last] if last is not None else messages


def dataset_prompts(store: Store, dataset_id: int, limit: int = 50) -> list[list[dict]]:
    from ftui.curate import examples_of

    for split in ("validation", "test"):
        found = [_prompt_part(e.messages) for e in examples_of(store, dataset_id, split)]
        if found:
            return found[:limit]
    raise FtuiError(f"dataset {dataset_id} has no validation or test split",
                    "build it with --val 0.1, or use logged prompts")


def logged_prompts(store: Store, limit: int = 50) -> list[list[dict]]:
    with store.session() as s:
        rows = s.exec(select(Interaction).order_by(col(Interaction.created_at).desc())
                      .limit(limit))
        return [_prompt_part(r.messages) for r in rows]


def draw_left(rng: random.Random | None = None) -> str:
    """Which arm is shown on the left for one prompt."""
    return (rng or random).choice(("A", "B"))


def answer_pair(store: Store, model_a: str, model_b: str, messages: list[dict[str, Any]], *,
                home: Path, host: str, on_token_a=None, on_token_b=None,
                max_new_tokens: int = 512) -> tuple[Generation | FtuiError, Generation | FtuiError]:
    """Both answers, generated at the same time (each in its own thread); a failure comes back
    in place of its answer, so the other one still shows."""
    from ftui.inference.router import run_target, target_of

    results: dict[str, Generation | FtuiError] = {}
    targets = {}
    for key, ref in (("A", model_a), ("B", model_b)):
        try:
            targets[key] = target_of(store, ref)[0]
        except FtuiError as err:
            results[key] = err

    def one(key: str, on_token) -> None:
        try:
            results[key] = run_target(targets[key], messages, home, host, on_token=on_token,
                                      options={"num_predict": max_new_tokens})
        except FtuiError as err:
            results[key] = err
        except Exception as err:  # noqa: BLE001 - shown in place of the answer, not raised
            results[key] = FtuiError(f"{type(err).__name__}: {err}",
                                     "check the model loads (ftui chat MODEL)")

    jobs = [(k, cb) for k, cb in (("A", on_token_a), ("B", on_token_b)) if k in targets]
    if all(t["backend"] == "local" for t in targets.values()):
        for key, cb in jobs:  # two local models at once would only fight over the same device
            one(key, cb)
    else:
        threads = [threading.Thread(target=one, args=job, daemon=True) for job in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return results["A"], results["B"]


def record_vote(store: Store, *, model_a: str, model_b: str, left: str, winner: str,
                messages: list[dict[str, Any]], answer_a: str, answer_b: str,
                experiment_id: int | None = None, rating_a: int | None = None,
                rating_b: int | None = None, voter: str = HUMAN) -> ArenaVote:
    if winner not in WINNERS or left not in ("A", "B"):
        raise FtuiError(f"a vote is one of {', '.join(WINNERS)}", "vote again")
    if voter != HUMAN and not (voter.startswith(JUDGE_PREFIX) and len(voter) > len(JUDGE_PREFIX)):
        raise FtuiError(f"voter {voter!r} is neither human nor judge:<model>", "vote again")
    vote = ArenaVote(experiment_id=experiment_id, model_a=model_a, model_b=model_b, left=left,
                     winner=winner, prompt_json=json.dumps(messages), answer_a=answer_a,
                     answer_b=answer_b, rating_a=rating_a, rating_b=rating_b, voter=voter)
    with store.session() as s:
        s.add(vote)
        s.commit()
        s.refresh(vote)
    return vote


def export_pairs(store: Store, out: Path, experiment_id: int | None = None,
                 redact: str = "redact", voters: str = "human"):
    """Decisive votes (people's unless `voters` says otherwise) as preference pairs, {"prompt",
    "chosen", "rejected"} message lists per line (the shape of `ftui dataset pairs`), through
    the one writer of training data."""
    from ftui.curate.export import TrainingRecord, write_training_data

    with store.session() as s:
        stmt = voter_filter(select(ArenaVote).where(col(ArenaVote.winner).in_(("A", "B"))),
                            voters)
        if experiment_id is not None:
            stmt = stmt.where(ArenaVote.experiment_id == experiment_id)
        votes = list(s.exec(stmt.order_by(col(ArenaVote.id))))
        if not votes:  # say why rather than write an empty file
            undecided = voter_filter(select(ArenaVote).where(
                col(ArenaVote.winner).not_in(("A", "B"))), voters)
            if experiment_id is not None:
                undecided = undecided.where(ArenaVote.experiment_id == experiment_id)
            _no_pairs(len(list(s.exec(undecided))), voters, experiment_id)
    records = []
    for v in votes:
        win, lose = (v.answer_a, v.answer_b) if v.winner == "A" else (v.answer_b, v.answer_a)
        records.append(TrainingRecord(
            json.loads(v.prompt_json), chosen={"role": "assistant", "content": win},
            rejected={"role": "assistant", "content": lose}, meta={"source": f"arena:{v.id}"}))
    return write_training_data(out, records, redact=redact)


def _no_pairs(undecided: int, voters: str, experiment_id: int | None) -> None:
    where = f" in experiment {experiment_id}" if experiment_id is not None else ""
    votes = f": {undecided} ties or both-bad, which make no pair" if undecided else ""
    others = "" if voters == "all" else "; or --voters all to count judges' votes too"
    raise FtuiError(f"no decisive arena votes yet ({VOTERS_LABEL[voters]}{where}){votes}",
                    "vote in the arena: F5, pick an experiment, v, then left or right better"
                    + others)


def ranking(store: Store, rounds: int = 200, voters: str = "human") -> list[dict[str, Any]]:
    """Every model that took part in votes, by Bradley-Terry strength with 95% intervals (ties
    count half; both-bad votes say nothing about the order and are left out). `voters`: whose
    votes count, people's only by default (VOTERS_LABEL says it in words)."""
    from ftui.ab.stats import bradley_terry_ci

    with store.session() as s:
        votes = list(s.exec(voter_filter(
            select(ArenaVote).where(col(ArenaVote.winner) != "both_bad"), voters)))
    matches = [(v.model_a, v.model_b, {"A": 1.0, "B": 0.0, "tie": 0.5}[v.winner])
               for v in votes if v.model_a != v.model_b]
    if not matches:
        return []
    got = bradley_terry_ci(matches, rounds=rounds)
    return [{"model": m, "strength": i.estimate, "ci95": [i.low, i.high]}
            for m, i in sorted(got.items(), key=lambda kv: -kv[1].estimate)]
