"""The standard system prompt of each reasoning mode (assets/system_prompts.toml), which the
operator can override per mode in $FTUI_HOME/system_prompts.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

from ftui.errors import FtuiError
from ftui.resources import asset_path


def system_prompts(home: Path | None = None) -> dict[str, str]:
    prompts = tomllib.loads(asset_path("system_prompts.toml").read_text(encoding="utf-8"))
    override = (home / "system_prompts.toml") if home else None
    if override and override.is_file():
        try:
            prompts.update(tomllib.loads(override.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise FtuiError(f"cannot read {override}: {err}",
                            "fix the TOML syntax or remove the file") from err
    return prompts
