"""Experiments and sticky assignment.

bucket = int(sha256(salt + ":" + unit)) mod 10000; the unit goes to B when bucket < split_b *
10000. The first assignment of a unit is stored and wins over the hash from then on, so changing
the split later never moves a unit that was already served. Never Python's `hash()`: it is salted
per process.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from ftui.errors import FtuiError
from ftui.store import Assignment, Experiment, Outcome, Store, utcnow

BUCKETS = 10_000
STATUSES = ("draft", "running", "stopped")
METRICS = ("rating", "win_rate", "latency")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,80}$")


def bucket(salt: str, unit: str) -> int:
    digest = hashlib.sha256(f"{salt}:{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def arm_for(salt: str, unit: str, split_b: float) -> str:
    return "B" if bucket(salt, unit) < round(split_b * BUCKETS) else "A"


class ModelsUnchecked(FtuiError):
    """An arm that is not registered could not be looked up: Ollama did not answer."""


def check_arm_models(store: Store, arms: dict[str, str], host: str,
                     timeout_s: float = 5.0) -> None:
    """Each arm (label -> name) is a registered model (id or name) or a model Ollama at `host`
    has; Ollama is asked only about the names the registry does not know."""
    from ftui.inference import ollama_models
    from ftui.registry import get_model

    unknown = {}
    for label, ref in arms.items():
        try:
            get_model(store, ref)
        except FtuiError:
            unknown[label] = ref
    if not unknown:
        return
    try:
        known = ollama_models(host, timeout_s)
    except FtuiError as err:
        named = " and ".join(f"{label} {ref!r}" for label, ref in unknown.items())
        raise ModelsUnchecked(
            f"could not check {named}: not registered, and {err.message}",
            "start Ollama (ollama serve) or point at it (--ollama-host URL or OLLAMA_HOST), "
            "then try again; or create it anyway with --no-check (that arm fails until Ollama "
            "serves the name)") from err
    for label, ref in unknown.items():
        if ref not in known and f"{ref}:latest" not in known:
            shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "") or "none"
            raise FtuiError(f"{label} {ref!r} is neither registered nor in Ollama at {host} "
                            f"(Ollama has: {shown})",
                            f"check the spelling, pull it (ollama pull {ref}), or register it "
                            "(ftui models register ...; see: ftui models list)")


def create_experiment(store: Store, *, name: str, alias: str, model_a: str, model_b: str,
                      split_b: float = 0.5, slot: str | None = None, salt: str | None = None,
                      primary_metric: str = "rating", min_samples: int = 100,
                      mde: float = 0.3, notes: str | None = None,
                      check_host: str | None = None) -> Experiment:
    """A draft experiment. `check_host`: the models must be registered or known to that
    Ollama (the CLI and F5 pass it; the autopilot's arms are registered by construction)."""
    for label, value in (("name", name), ("alias", alias), ("model A", model_a),
                         ("model B", model_b)):
        if not _NAME.match(value or ""):
            raise FtuiError(f"{label} {value!r} is not a simple name",
                            "letters, digits and . _ : - only")
    if model_a == model_b:
        raise FtuiError("model A and model B are the same", "compare two different models")
    if not 0 < split_b < 1:
        raise FtuiError(f"split {split_b} is not between 0 and 1 (B's share of the traffic)",
                        "e.g. --split 0.5 for half and half")
    if primary_metric not in METRICS:
        raise FtuiError(f"unknown metric {primary_metric!r}", f"use one of {', '.join(METRICS)}")
    if min_samples < 1 or mde <= 0:
        raise FtuiError("min samples and the minimum detectable effect must be positive",
                        "e.g. --min-samples 100 --mde 0.3")
    if check_host is not None:
        check_arm_models(store, {"model A": model_a, "model B": model_b}, check_host)
    exp = Experiment(name=name, alias=alias, model_a=model_a, model_b=model_b, split_b=split_b,
                     slot=slot, salt=salt or secrets.token_hex(8), primary_metric=primary_metric,
                     min_samples=min_samples, mde=mde, notes=notes)
    with store.session() as s:
        if s.exec(select(Experiment).where(Experiment.name == name)).first():
            raise FtuiError(f"an experiment named {name!r} exists", "pick another name")
        s.add(exp)
        s.commit()
        s.refresh(exp)
    return exp


def list_experiments(store: Store) -> list[Experiment]:
    with store.session() as s:
        return list(s.exec(select(Experiment).order_by(col(Experiment.id).desc())))


def get_experiment(store: Store, ref: int | str) -> Experiment:
    with store.session() as s:
        found = s.get(Experiment, int(ref)) if str(ref).isdigit() else None
        if found is None:
            found = s.exec(select(Experiment).where(Experiment.name == str(ref))).first()
    if found is None:
        raise FtuiError(f"no experiment {ref!r}", "see them with: ftui ab list")
    return found


def set_status(store: Store, ref: int | str, status: str) -> Experiment:
    """draft -> running -> stopped (a stopped experiment may run again). One running experiment
    per alias: the gateway must know where a request goes."""
    exp = get_experiment(store, ref)
    with store.session() as s:
        exp = s.get(Experiment, exp.id)
        if status == "running":
            other = s.exec(select(Experiment).where(Experiment.alias == exp.alias,
                                                    Experiment.status == "running",
                                                    Experiment.id != exp.id)).first()
            if other is not None:
                raise FtuiError(f"experiment {other.name!r} is already running on alias "
                                f"{exp.alias!r}", f"stop it first: ftui ab stop {other.id}")
            exp.started_at = exp.started_at or utcnow()
            exp.stopped_at = None
        elif status == "stopped":
            exp.stopped_at = utcnow()
        exp.status = status
        s.commit()
        s.refresh(exp)
        return exp


def set_split(store: Store, ref: int | str, split_b: float) -> Experiment:
    """Change the split for new units; units already assigned keep their arm."""
    if not 0 < split_b < 1:
        raise FtuiError(f"split {split_b} is not between 0 and 1", "e.g. 0.2")
    exp = get_experiment(store, ref)
    with store.session() as s:
        exp = s.get(Experiment, exp.id)
        exp.split_b = split_b
        s.commit()
        s.refresh(exp)
        return exp


@dataclass(frozen=True)
class Assigned:
    experiment: str
    unit: str
    arm: str
    model: str

    def as_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "unit": self.unit, "arm": self.arm,
                "model": self.model}


def assign(store: Store, experiment: int | str | Experiment, unit: str) -> Assigned:
    """The unit's arm: the stored one if it has one, else by hash (and stored)."""
    exp = experiment if isinstance(experiment, Experiment) else get_experiment(store, experiment)
    unit = str(unit).strip()
    if not unit:
        raise FtuiError("an empty unit id cannot be assigned", "pass the user or session id")
    with store.session() as s:
        found = s.exec(select(Assignment).where(Assignment.experiment_id == exp.id,
                                                Assignment.unit == unit)).first()
        if found is None:
            arm = arm_for(exp.salt, unit, exp.split_b)
            s.add(Assignment(experiment_id=exp.id, unit=unit, arm=arm))
            try:
                s.commit()
            except IntegrityError:  # another request for the same unit got there first
                s.rollback()
                found = s.exec(select(Assignment).where(Assignment.experiment_id == exp.id,
                                                        Assignment.unit == unit)).one()
        arm = found.arm if found is not None else arm
    return Assigned(exp.name, unit, arm, exp.model_a if arm == "A" else exp.model_b)


def log_outcome(store: Store, experiment: int | str, unit: str, interaction: str | int | None,
                rating: int | None = None, latency: float | None = None,
                tokens: int | None = None, fell_back: bool = False) -> Outcome:
    """Record what a served request gave (for chat apps that call ftui directly). The arm is the
    unit's assignment; `interaction` is the interaction's uid (or id) so a later rating can find
    this outcome. A rating given here rates the stored interaction too."""
    from ftui.store import Interaction

    exp = get_experiment(store, experiment)
    arm = assign(store, exp, unit).arm
    if rating is not None and rating not in (1, 2, 3, 4, 5):
        raise FtuiError(f"rating {rating!r} is not 1-5", "pass a whole number from 1 to 5")
    uid = None
    if interaction is not None:
        with store.session() as s:
            row = s.get(Interaction, int(interaction)) if str(interaction).isdigit() else None
            uid = row.uid if row is not None else str(interaction)
    with store.session() as s:
        out = Outcome(experiment_id=exp.id, unit=str(unit), arm=arm, interaction_uid=uid,
                      rating=rating, latency_ms=latency, tokens=tokens, fell_back=fell_back)
        s.add(out)
        s.commit()
        s.refresh(out)
    if rating is not None and uid is not None:  # the interaction gets the same rating
        from ftui.store.interactions import set_rating_by_uid

        set_rating_by_uid(store, uid, rating)
    return out


def gateway_warnings(store: Store, exp: Experiment) -> list[str]:
    """Arms the gateway could not route to (registered but not in Ollama); the arena can still
    run them locally."""
    from ftui.registry import get_model

    out = []
    for arm, ref in (("A", exp.model_a), ("B", exp.model_b)):
        try:
            m = get_model(store, ref)
        except FtuiError:
            continue  # a plain Ollama name
        if not m.ollama_name:
            out.append(f"arm {arm} ({m.name}) is not in Ollama: the gateway cannot route to it "
                       f"until it is deployed (ftui models deploy {m.id}); the arena can use it")
    return out
