"""Rubrics: one TOML file per reasoning mode in assets/rubrics/; a file of the same name in
$FTUI_HOME/rubrics/ replaces the shipped one (and new names add rubrics)."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ftui import REASONING_MODES
from ftui.errors import FtuiError
from ftui.resources import asset_path

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Criterion:
    key: str
    question: str
    scale: str


@dataclass(frozen=True)
class Rubric:
    name: str
    version: int
    description: str
    criteria: tuple[Criterion, ...]
    source: str  # the file it came from

    @property
    def keys(self) -> list[str]:
        return [c.key for c in self.criteria]

    @property
    def fingerprint(self) -> str:
        """Hash of what the judge is told: an edit without a version bump still judges again."""
        text = json.dumps([self.name, self.version, self.description,
                           [[c.key, c.question, c.scale] for c in self.criteria]])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _folders(home: Path | None) -> list[Path]:
    shipped = asset_path("rubrics")
    return [home / "rubrics", shipped] if home else [shipped]


def _parse(path: Path) -> Rubric:
    fix = f"fix {path} (see the shipped rubrics in ftui's assets/rubrics/), or remove it"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise FtuiError(f"cannot read the rubric {path}: {err}", fix) from err
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise FtuiError(f"rubric {path} has no whole-number version (>= 1)", fix)
    raw = data.get("criteria")
    if not isinstance(raw, list) or not raw:
        raise FtuiError(f"rubric {path} has no [[criteria]]", fix)
    criteria = []
    for item in raw:
        key = item.get("key") if isinstance(item, dict) else None
        if not isinstance(key, str) or not _KEY.match(key) or key == "overall":
            raise FtuiError(f"rubric {path}: criterion key {key!r} is not a lower-case name "
                            "(letters, digits, _; not 'overall')", fix)
        if key in [c.key for c in criteria]:
            raise FtuiError(f"rubric {path}: criterion {key} appears twice", fix)
        question, scale = item.get("question"), item.get("scale", "")
        if not isinstance(question, str) or not question.strip() or not isinstance(scale, str):
            raise FtuiError(f"rubric {path}: criterion {key} needs a question (text)", fix)
        criteria.append(Criterion(key, question.strip(), scale.strip()))
    return Rubric(str(data.get("name") or path.stem), version, str(data.get("description", "")),
                  tuple(criteria), str(path))


def load_rubric(name: str, home: Path | None = None) -> Rubric:
    """The rubric `name` (an override in $FTUI_HOME/rubrics/ first)."""
    if not _KEY.match(name):
        raise FtuiError(f"{name!r} is not a rubric name", "use one of: " + ", ".join(
            rubric_names(home)))
    for folder in _folders(home):
        path = folder / f"{name}.toml"
        if path.is_file():
            return _parse(path)
    raise FtuiError(f"no rubric {name!r}", "use one of: " + ", ".join(rubric_names(home)))


def rubric_names(home: Path | None = None) -> list[str]:
    names = set()
    for folder in _folders(home):
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.toml") if _KEY.match(p.stem))
    return sorted(names)


def rubric_for(mode: str, home: Path | None = None, override: str | None = None) -> Rubric:
    """The rubric asked for, else the interaction's mode's, else `standard`'s."""
    if override:
        return load_rubric(override, home)
    return load_rubric(mode if mode in REASONING_MODES else "standard", home)
