"""The rules of a dataset: which interactions go in and how they are cleaned and split."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from ftui import REASONING_MODES, STATUSES
from ftui.curate.redact import REDACT_MODES
from ftui.errors import FtuiError
from ftui.ingest.formats import canonical_json

SYSTEM_POLICIES = ("keep", "mode")  # keep the logged system prompt, or use the mode's standard one
OVER_LENGTH = ("drop", "truncate")
KINDS = ("sft", "preference", "unpaired")  # conversations; chosen/rejected pairs; labelled replies
PAIR_SOURCES = ("correction", "rating", "arena")
# Rules only a preference or unpaired version has: an sft spec leaves them out of its canonical
# form, so versions built before they existed keep their hash.
PREFERENCE_RULES = ("kind", "pair_sources", "min_rating_gap", "desirable_min_rating",
                    "undesirable_max_rating")


@dataclass(frozen=True)
class DatasetSpec:
    min_rating: int | None = 4  # ratings below always exclude
    include_unrated: bool = False
    statuses: tuple[str, ...] = ("new", "accepted")  # rejected stays out unless listed
    modes: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # any of these
    exclude_tags: tuple[str, ...] = ()
    since: str | None = None  # ISO date, inclusive
    until: str | None = None  # ISO date, exclusive
    min_tokens: int | None = None
    max_tokens: int | None = None
    over_length: str = "drop"
    max_examples: int | None = None
    system_prompt: str = "keep"
    redact: str = "redact"
    near_dup: float | None = 0.85  # Jaccard threshold; None = off
    val: float = 0.1
    test: float = 0.0
    seed: int = 0
    tokenizer: str = "approx"
    kind: str = "sft"
    pair_sources: tuple[str, ...] = PAIR_SOURCES  # where preferences come from
    min_rating_gap: int = 2  # two rated answers to one prompt make a pair from this gap up
    desirable_min_rating: int = 4  # unpaired: this rating or more (or accepted) is desirable
    undesirable_max_rating: int = 2  # unpaired: this or less (or rejected) is undesirable
    judged_min: int | None = None  # unrated ones the judge (current judgement) scored >= this
    users: tuple[str, ...] = ()  # these users' interactions (user id as logged) ...
    teams: tuple[str, ...] = ()  # ... and these teams' members' (config.toml's [teams])
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def validate(self) -> DatasetSpec:
        problems = []
        if self.min_rating is not None and not 1 <= self.min_rating <= 5:
            problems.append(f"min rating {self.min_rating} is not 1-5")
        bad = [s for s in self.statuses if s not in STATUSES]
        if bad:
            problems.append(f"unknown status {', '.join(bad)} (one of {', '.join(STATUSES)})")
        bad = [m for m in self.modes if m not in REASONING_MODES]
        if bad:
            problems.append(f"unknown mode {', '.join(bad)} (one of {', '.join(REASONING_MODES)})")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value:
                try:
                    datetime.fromisoformat(value)
                except ValueError:
                    problems.append(f"{name} {value!r} is not a date like 2026-11-25")
        for name in ("min_tokens", "max_tokens", "max_examples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                problems.append(f"{name.replace('_', ' ')} must be at least 1")
        if self.min_tokens and self.max_tokens and self.min_tokens > self.max_tokens:
            problems.append("min tokens is above max tokens")
        if self.over_length not in OVER_LENGTH:
            problems.append(f"over-length must be {' or '.join(OVER_LENGTH)}")
        if self.system_prompt not in SYSTEM_POLICIES:
            problems.append(f"system prompt policy must be {' or '.join(SYSTEM_POLICIES)}")
        if self.redact not in REDACT_MODES:
            problems.append(f"redact must be one of {', '.join(REDACT_MODES)}")
        if self.near_dup is not None and not 0.5 <= self.near_dup < 1:
            problems.append(f"near-dup threshold {self.near_dup} must be in [0.5, 1) or off")
        if not (0 <= self.val < 1 and 0 <= self.test < 1 and self.val + self.test < 1):
            problems.append("validation and test fractions must be in [0, 1) and sum below 1")
        if self.judged_min is not None and not 1 <= self.judged_min <= 5:
            problems.append(f"judged min {self.judged_min} is not 1-5")
        problems.extend(self._people_problems())
        problems.extend(self._preference_problems())
        if problems:
            raise FtuiError("invalid dataset rules: " + "; ".join(problems),
                            "change the rules named above")
        return self

    def _people_problems(self) -> list[str]:
        from ftui.config import TEAM_NAME

        problems = []
        if any(not isinstance(u, str) or not u.strip() for u in self.users):
            problems.append("a user id in the rules is empty")
        bad = [t for t in self.teams if not isinstance(t, str) or not TEAM_NAME.fullmatch(t)]
        if bad:
            problems.append(f"team {', '.join(map(repr, bad))} is not a simple name")
        return problems

    def _preference_problems(self) -> list[str]:
        problems = []
        if self.kind not in KINDS:
            problems.append(f"kind must be one of {', '.join(KINDS)}")
        bad = [s for s in self.pair_sources if s not in PAIR_SOURCES]
        if bad or not self.pair_sources:
            problems.append(f"sources must be some of {', '.join(PAIR_SOURCES)}")
        if not 1 <= self.min_rating_gap <= 4:
            problems.append(f"rating gap {self.min_rating_gap} is not 1-4")
        if not 1 <= self.undesirable_max_rating < self.desirable_min_rating <= 5:
            problems.append("undesirable max rating must be below desirable min rating (1-5)")
        return problems

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("extra")
        if self.kind == "sft":
            for name in PREFERENCE_RULES:
                out.pop(name)
        else:  # ratings and status are the signal of these kinds, not a selection rule
            for name in ("min_rating", "include_unrated", "statuses"):
                out.pop(name)
        for name in ("judged_min", "users", "teams"):  # older versions keep their hash
            if not out[name]:
                out.pop(name)
        return out

    def canonical(self) -> str:
        return canonical_json(self.as_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetSpec:
        known = {f.name for f in fields(cls)} - {"extra"}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        return cls(**values)
