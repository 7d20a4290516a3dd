"""Finding the files that ship in assets/, installed (package data) or from a checkout."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def asset_path(name: str) -> Path:
    try:
        path = Path(str(resources.files("ftui.assets").joinpath(name)))
        if path.exists():
            return path
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parent.parent / "assets" / name
