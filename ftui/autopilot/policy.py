"""The autopilot's policy: `$FTUI_HOME/autopilot.toml` (assets/autopilot.example.toml is the
commented example `ftui autopilot init` writes). Unlike config.toml, unknown keys are refused:
a misspelt threshold must not silently fall back to its default in a loop that promotes models.
"""

from __future__ import annotations

import math
import re
import string
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ftui.errors import FtuiError

POLICY_FILE = "autopilot.toml"
EXAMPLE = "autopilot.example.toml"
PLACEHOLDERS = ("cycle", "model", "slot")
_OLLAMA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,120}$")
_SIMPLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,80}$")  # experiment and model names


@dataclass(frozen=True)
class Trigger:
    min_new_feedback: int = 50
    every_hours: float = 0.0
    combine: str = "any"


@dataclass(frozen=True)
class Data:
    dataset: str = "autopilot"
    kind: str = "sft"
    rules_from: str = ""
    rules: dict[str, Any] = field(default_factory=lambda: {"min_rating": 4})


@dataclass(frozen=True)
class Training:
    base: str = "demo"
    executor: str = "inline"
    config_file: str = ""
    config: dict[str, Any] = field(default_factory=lambda: {"method": "sft", "epochs": 1})


@dataclass(frozen=True)
class Deploy:
    name: str = "ftui-autopilot-{cycle}"
    ollama_base: str = ""


@dataclass(frozen=True)
class Guardrails:
    min_requests: int = 20
    max_latency_p95_ratio: float = 1.5
    max_fallback_rate: float = 0.05
    max_judge_drop: float = 0.5


@dataclass(frozen=True)
class ExperimentPolicy:
    alias: str = "assistant"
    b_share: float = 0.1
    min_samples: int = 100
    guardrails: Guardrails = field(default_factory=Guardrails)


@dataclass(frozen=True)
class Decision:
    rollback_when_worse: bool = True
    max_hours: float = 0.0


@dataclass(frozen=True)
class Policy:
    slot: str = "general"
    poll_seconds: float = 60.0
    trigger: Trigger = field(default_factory=Trigger)
    data: Data = field(default_factory=Data)
    training: Training = field(default_factory=Training)
    gate: dict[str, Any] = field(default_factory=dict)
    deploy: Deploy = field(default_factory=Deploy)
    experiment: ExperimentPolicy = field(default_factory=ExperimentPolicy)
    decision: Decision = field(default_factory=Decision)
    source: str = ""  # where it was read from (not a policy key)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("source")
        return out

    def deploy_name(self, cycle: int, model: str) -> str:
        return self.deploy.name.format(cycle=cycle, model=model, slot=self.slot)

    def gate_extra(self, settings_extra: dict | None) -> dict[str, Any]:
        """config.toml's values with this policy's [gate] on top (what run_gate reads)."""
        extra = dict(settings_extra or {})
        base = extra.get("gate") if isinstance(extra.get("gate"), dict) else {}
        extra["gate"] = {**base, **self.gate}
        return extra


def policy_path(home: Path) -> Path:
    return Path(home) / POLICY_FILE


def example_text() -> str:
    from ftui.resources import asset_path

    return asset_path(EXAMPLE).read_text(encoding="utf-8")


def init_policy(home: Path, force: bool = False) -> Path:
    """Write the commented example as $FTUI_HOME/autopilot.toml (never over an existing one
    unless `force`)."""
    path = policy_path(home)
    if path.exists() and not force:
        raise FtuiError(f"{path} exists already", "edit it, or pass --force to start over "
                        "from the example (the old file is replaced)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(example_text(), encoding="utf-8")
    return path


def load_policy(home: Path) -> Policy:
    path = policy_path(home)
    if not path.is_file():
        raise FtuiError(f"no autopilot policy at {path}",
                        "write one with: ftui autopilot init (then edit it), or in the TUI's "
                        "Autopilot screen (p)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise FtuiError(f"cannot read {path}: {err}", "check the file") from err
    return parse_policy(text, str(path))


def parse_policy(text: str, source: str = POLICY_FILE) -> Policy:
    """The policy in `text`, checked: every problem is named, with the fix, in one error."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise FtuiError(f"cannot read the autopilot policy {source}: {err}",
                        "fix the TOML syntax (ftui autopilot init --force writes the example)"
                        ) from err
    problems: list[str] = []
    policy = _build(data, problems)
    if not problems:
        problems.extend(_check(policy))
    if problems:
        raise FtuiError(f"invalid autopilot policy {source}: " + "; ".join(problems),
                        "change the values named above (each key is explained in "
                        "assets/autopilot.example.toml; ftui autopilot init --force writes it)")
    return Policy(**{**policy.__dict__, "source": source})


_TYPES = {bool: "true or false", int: "a whole number", float: "a number", str: "text",
          dict: "a table"}


def _value(section: str, key: str, value: Any, default: Any, problems: list[str]) -> Any:
    want = type(default)
    ok = isinstance(value, want) and not (want is not bool and isinstance(value, bool))
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if want is float and ok and not math.isfinite(value):
        ok = False
    if not ok:
        where = f"{section}.{key}" if section else key
        problems.append(f"{where} = {value!r} is not {_TYPES.get(want, want.__name__)}")
        return default
    return value


def _section(cls, data: Any, name: str, problems: list[str], nested: dict | None = None):
    if not isinstance(data, dict):
        problems.append(f"[{name}] is not a table")
        return cls()
    defaults = cls()
    known = set(defaults.__dict__)
    unknown = sorted(set(data) - known)
    if unknown:
        problems.append(f"unknown key{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(unknown)} in [{name}] (known: {', '.join(sorted(known))})")
    values = {}
    for key in known & set(data):
        if nested and key in nested:
            values[key] = _section(nested[key], data[key], f"{name}.{key}", problems)
        else:
            values[key] = _value(name, key, data[key], getattr(defaults, key), problems)
    return cls(**{**defaults.__dict__, **values})


def _build(data: dict[str, Any], problems: list[str]) -> Policy:
    sections = {"trigger": Trigger, "data": Data, "training": Training, "deploy": Deploy,
                "experiment": ExperimentPolicy, "decision": Decision}
    top = {"slot", "poll_seconds", "gate", *sections}
    unknown = sorted(set(data) - top)
    if unknown:
        problems.append(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                        f"(known: {', '.join(sorted(top))})")
    values: dict[str, Any] = {}
    defaults = Policy()
    for key in ("slot", "poll_seconds"):
        if key in data:
            values[key] = _value("", key, data[key], getattr(defaults, key), problems)
    for key, cls in sections.items():
        if key in data:
            nested = {"guardrails": Guardrails} if cls is ExperimentPolicy else None
            values[key] = _section(cls, data[key], key, problems, nested)
    if "gate" in data:
        values["gate"] = _value("", "gate", data["gate"], {}, problems)
    return Policy(**{**defaults.__dict__, **values})


def _check(p: Policy) -> list[str]:
    """The values' meaning (types are checked already)."""
    from ftui.curate.spec import DatasetSpec
    from ftui.registry.gate import gate_config

    out = []
    if not re.match(r"^[a-z][a-z0-9_-]{0,40}$", p.slot):
        out.append(f"slot {p.slot!r} is not a simple name (a mode, a domain or general)")
    if p.poll_seconds < 1:
        out.append("poll_seconds must be at least 1")
    t = p.trigger
    if t.min_new_feedback < 0 or t.every_hours < 0:
        out.append("trigger.min_new_feedback and trigger.every_hours must be 0 (off) or more")
    if t.min_new_feedback == 0 and t.every_hours == 0:
        out.append("the trigger never fires: set trigger.min_new_feedback or "
                   "trigger.every_hours above 0")
    if t.combine not in ("any", "all"):
        out.append(f"trigger.combine = {t.combine!r} must be \"any\" or \"all\"")
    if not _SIMPLE.match(p.data.dataset):
        out.append(f"data.dataset {p.data.dataset!r} is not a simple name")
    if p.data.kind not in ("sft", "preference"):
        out.append(f"data.kind = {p.data.kind!r} must be \"sft\" or \"preference\"")
    try:
        DatasetSpec.from_dict({**p.data.rules, "kind": p.data.kind}).validate()
        bad = sorted(set(p.data.rules) - {f.name for f in fields(DatasetSpec)} - {"extra"})
        if bad:
            out.append(f"unknown dataset rule{'s' if len(bad) > 1 else ''} {', '.join(bad)} in "
                       "[data.rules]")
    except (FtuiError, TypeError, ValueError) as err:
        out.append(f"[data.rules]: {getattr(err, 'message', err)}")
    out.extend(_training_problems(p))
    try:
        gate_config({"gate": p.gate})
    except FtuiError as err:
        out.append(f"[gate]: {err.message}")
    out.extend(_deploy_problems(p))
    e, g = p.experiment, p.experiment.guardrails
    if not _SIMPLE.match(e.alias):
        out.append(f"experiment.alias {e.alias!r} is not a simple name")
    if not 0 < e.b_share < 1:
        out.append(f"experiment.b_share = {e.b_share} must be between 0 and 1 (e.g. 0.1)")
    if e.min_samples < 1:
        out.append("experiment.min_samples must be at least 1")
    if g.min_requests < 1:
        out.append("experiment.guardrails.min_requests must be at least 1")
    if g.max_latency_p95_ratio < 0 or g.max_judge_drop < 0:
        out.append("latency ratio and judge drop guardrails must be 0 (off) or more")
    if not 0 <= g.max_fallback_rate <= 1:
        out.append("experiment.guardrails.max_fallback_rate must be in [0, 1]")
    if p.decision.max_hours < 0:
        out.append("decision.max_hours must be 0 (never) or more")
    return out


def _training_problems(p: Policy) -> list[str]:
    out = []
    if p.training.executor not in ("inline", "worker"):
        out.append(f"training.executor = {p.training.executor!r} must be \"inline\" or "
                   "\"worker\"")
    if not p.training.base.strip():
        out.append("training.base is empty (tiny, demo, a folder, a .gguf or an id)")
    try:
        config = run_config(p)
        from ftui.train.methods import KINDS_OF

        if p.data.kind not in KINDS_OF.get(config.method, ()):
            out.append(f"training method {config.method} does not train on data.kind "
                       f"{p.data.kind} (it needs {' or '.join(KINDS_OF.get(config.method, ()))})")
    except FtuiError as err:
        out.append(f"[training]: {err.message}")
    return out


def run_config(p: Policy):
    """The training recipe as a RunConfig: the saved config file, then [training.config]."""
    from ftui.train.config import RunConfig

    base: dict[str, Any] = {}
    if p.training.config_file:
        from ftui.train.config import load_config

        base = load_config(Path(p.training.config_file).expanduser()).as_dict()
    return RunConfig.from_dict({**base, **p.training.config}).validate()


def _deploy_problems(p: Policy) -> list[str]:
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(p.deploy.name) if f is not None}
    except ValueError as err:
        return [f"deploy.name {p.deploy.name!r}: {err}"]
    bad = sorted(n for n in names if n not in PLACEHOLDERS)
    if bad:
        return [f"deploy.name uses {', '.join('{' + b + '}' for b in bad)}; only "
                f"{', '.join('{' + n + '}' for n in PLACEHOLDERS)} are filled in"]
    sample = p.deploy_name(12, "autopilot-run3")
    if not _OLLAMA_NAME.match(sample):
        return [f"deploy.name gives {sample!r}, not an Ollama model name (letters, digits, "
                ". _ : / -)"]
    if "cycle" not in names and "model" not in names:
        return ["deploy.name must contain {cycle} or {model}: every cycle deploys a new model"]
    return []


def save_policy_text(home: Path, text: str) -> Policy:
    """Check `text` as a policy and, only when it is valid, write it as autopilot.toml
    (atomically: a crash leaves the old file). A running autopilot reads it before its next
    step."""
    import os
    import tempfile

    path = policy_path(home)
    policy = parse_policy(text, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".autopilot-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise FtuiError(f"cannot write {path}: {err.strerror}",
                        "check that $FTUI_HOME is writable") from err
    return policy


def policy_text(home: Path) -> str:
    """The policy file's text, or the example when there is none yet (for the editor)."""
    path = policy_path(home)
    try:
        return path.read_text(encoding="utf-8") if path.is_file() else example_text()
    except (OSError, UnicodeDecodeError) as err:
        raise FtuiError(f"cannot read {path}: {err}", "check the file") from err
