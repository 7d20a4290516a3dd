"""Judging answers that are not stored interactions (a model's answers on a dataset split, for
evaluation): the same prompt, rubric, JSON schema and parser as `ftui judge run`, no cache.

    result = judge_answers(judge, [(messages, answer, mode), ...], host=host, home=home)
    result["per_criterion"]  # criterion -> mean score over the answers judged
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ftui.judge.parse import JudgeParseError, Verdict, parse_reply
from ftui.judge.prompt import judge_messages, transcript
from ftui.judge.rubrics import rubric_for
from ftui.judge.run import DEFAULT_OPTIONS, Judge, _ollama_asker, _run_local, _run_ollama, _Task

Item = tuple[list[dict[str, Any]], str, str]  # the prompt messages, the answer, the mode


def judge_answers(judge: Judge, items: Sequence[Item], *, host: str, home: Path,
                  rubric: str | None = None, parallel: int = 4,
                  options: dict[str, Any] | None = None,
                  cancel: threading.Event | None = None,
                  on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Per answer a Verdict or the reason it failed; means per criterion and overall."""
    options = {**DEFAULT_OPTIONS, **(options or {})}
    tasks = []
    for k, (messages, answer, mode) in enumerate(items):
        convo = [*messages, {"role": "assistant", "content": answer}]
        r = rubric_for(mode, home, rubric)
        tasks.append(_Task(k, r, "", "", judge_messages(transcript(convo, None, mode), r)))
    results: list[Verdict | str | None] = [None] * len(tasks)

    done = [0]

    def record(task: _Task, reply: str | None, error: str | None, _ms) -> None:
        done[0] += 1
        if on_progress:
            on_progress(done[0], len(tasks))
        if reply is None:
            results[task.interaction_id] = error or "no reply"
            return
        try:
            results[task.interaction_id] = parse_reply(reply, task.rubric)
        except JudgeParseError as err:
            results[task.interaction_id] = f"unreadable reply: {err}"

    cancel = cancel or threading.Event()
    if judge.backend == "ollama":
        _run_ollama(_ollama_asker(judge, host, options, 120.0), tasks, max(1, parallel), cancel,
                    record)
    else:
        _run_local(judge, tasks, home, options, max(1, parallel), cancel, record)
    from ftui.ab.stats import bounded_mean_ci

    verdicts = [v for v in results if isinstance(v, Verdict)]
    sums: dict[str, list[int]] = {}
    for v in verdicts:
        for key, value in v.scores.items():
            sums.setdefault(key, []).append(value["score"])
    overall = bounded_mean_ci([v.overall for v in verdicts], 1, 5)
    intervals = {k: bounded_mean_ci(s, 1, 5) for k, s in sums.items()}
    return {"n": len(items), "judged": len(verdicts),
            "failed": sum(1 for v in results if isinstance(v, str)),
            "mean_overall": (sum(v.overall for v in verdicts) / len(verdicts)) if verdicts
            else None,
            "overall_ci95": overall.as_list() if overall else None,
            "per_criterion": {k: sum(s) / len(s) for k, s in sums.items()},
            # 95% interval that stays inside 1-5 (ab.stats.bounded_mean_ci), and how many
            "per_criterion_ci95": {k: i.as_list() if i else None for k, i in intervals.items()},
            "per_criterion_n": {k: len(s) for k, s in sums.items()},
            "errors": list(dict.fromkeys(v for v in results if isinstance(v, str)))[:3],
            "judge": judge.ref, "judge_digest": judge.digest, "results": results}
