"""Reading a judge's reply. JSON first (what Ollama's `format` schema produces); then a tolerant
reading for models that wrap it in prose or code fences, use "4/5" or write `relevance: 4 - ...`
lines. Every criterion must come out with a score 1-5, or the reply is a failure (never a guess)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ftui.judge.rubrics import Rubric


class JudgeParseError(ValueError):
    """The reply does not hold a score for every criterion."""


@dataclass
class Verdict:
    scores: dict[str, dict[str, Any]]  # criterion -> {"score": int, "rationale": str}
    overall: int
    rationale: str
    notes: list[str] = field(default_factory=list)  # what the tolerant reader had to assume


_SCORE = re.compile(r"^\s*([1-5])(?:\.0+)?\s*(?:/\s*5|out of 5)?\s*$")


def _score(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 1 <= value <= 5 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and 1 <= value <= 5 else None
    if isinstance(value, str) and (m := _SCORE.match(value)):
        return int(m.group(1))
    return None


def _one_line(text: Any) -> str:
    return " ".join(str(text or "").split())[:300]


def _json_objects(text: str) -> list[dict]:
    """Every JSON object the text holds: the whole text, fenced blocks, then {...} spans."""
    found: list[dict] = []
    candidates = [text, *re.findall(r"```(?:json)?\s*(.*?)```", text, re.S)]
    start = text.find("{")
    if start >= 0:
        candidates.append(text[start:text.rfind("}") + 1])
    decoder = json.JSONDecoder()
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except (json.JSONDecodeError, RecursionError):
            value = None
            pos = candidate.find("{")
            while value is None and pos >= 0:
                try:
                    value, _ = decoder.raw_decode(candidate, pos)
                except (json.JSONDecodeError, RecursionError):
                    pos = candidate.find("{", pos + 1)
        if isinstance(value, dict):
            found.append(value)
    return found


def _from_object(obj: dict, keys: list[str]) -> dict[str, dict[str, Any]]:
    lowered = {str(k).strip().lower().replace(" ", "_"): v for k, v in obj.items()}
    if isinstance(lowered.get("scores"), dict):  # {"scores": {...}} wrappers
        lowered = {**{str(k).lower(): v for k, v in lowered["scores"].items()}, **lowered}
    out = {}
    for key in [*keys, "overall"]:
        value = lowered.get(key)
        if isinstance(value, dict):
            score = _score(value.get("score"))
            rationale = value.get("rationale") or value.get("reason") or ""
        else:
            score, rationale = _score(value), lowered.get(f"{key}_rationale", "")
        if score is not None:
            out[key] = {"score": score, "rationale": _one_line(rationale)}
    return out


def _from_lines(text: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for key in [*keys, "overall"]:
        words = key.replace("_", "[ _]")
        m = re.search(rf"\b{words}\b\W{{0,12}}([1-5])(?:\.0+)?(?:\s*/\s*5)?(?!\d|\.\d)"
                      rf"[ \t\-:;,.)–—]*(.*)", text, re.I)
        if m:
            out[key] = {"score": int(m.group(1)), "rationale": _one_line(m.group(2))}
    return out


def parse_reply(text: str, rubric: Rubric) -> Verdict:
    keys = rubric.keys
    best: dict[str, dict[str, Any]] = {}
    for obj in _json_objects(text or ""):
        got = _from_object(obj, keys)
        if len(got) > len(best):
            best = got
    notes = []
    if not all(k in best for k in keys):
        lines = _from_lines(text or "", keys)
        if len(lines) > len(best):
            best, notes = lines, ["read from prose (no usable JSON)"]
    missing = [k for k in keys if k not in best]
    if missing:
        shown = " ".join((text or "").split())[:120]
        raise JudgeParseError(f"no 1-5 score for {', '.join(missing)} in the reply: {shown!r}")
    overall = best.get("overall")
    if overall is None:
        mean = sum(best[k]["score"] for k in keys) / len(keys)
        overall = {"score": int(mean + 0.5), "rationale": ""}
        notes.append("no overall score: the mean of the criteria, rounded")
    return Verdict({k: best[k] for k in keys}, overall["score"], overall["rationale"], notes)
