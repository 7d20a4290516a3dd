"""What the UI remembers between sessions (theme, last section, filters, form values), kept as
plain JSON in `$FTUI_HOME/ui-state.json`.

The file is the user's: a missing, unreadable or hand-broken file means "nothing remembered", never
an error at start; a value of the wrong shape is ignored by whoever reads it. Writes are atomic
(temp file + rename), so a crash mid-write leaves the previous state.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

STATE_NAME = "ui-state.json"
MAX_BYTES = 1_000_000  # a state file larger than this is not ours: ignore it

log = logging.getLogger(__name__)


class UiState:
    """Keys are dotted names by area, e.g. `theme`, `mode`, `interactions.filter`,
    `training.new_run`, `datasets.rules`; values are anything JSON can hold."""

    def __init__(self, home: Path | None) -> None:
        self.path = Path(home) / STATE_NAME if home is not None else None
        self._data: dict[str, Any] = self._read()

    def _read(self) -> dict[str, Any]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            if self.path.stat().st_size > MAX_BYTES:
                raise ValueError(f"larger than {MAX_BYTES} bytes")
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            log.warning("ignoring the UI state in %s: %s", self.path, err)
            return {}
        if not isinstance(data, dict):
            log.warning("ignoring the UI state in %s: not a JSON object", self.path)
            return {}
        return data

    def get(self, key: str, default: Any = None, kind: type | tuple[type, ...] | None = None) -> Any:
        """The value stored under `key`; `default` when absent or (with `kind`) of another type."""
        value = self._data.get(key, default)
        if kind is not None and not isinstance(value, kind):
            return default
        return value

    def set(self, key: str, value: Any) -> None:
        """Remember `value` (JSON-serialisable) and write the file at once."""
        json.dumps(value)  # refuse what cannot be written back, before touching the state
        if self._data.get(key, object()) == value:
            return
        self._data[key] = value
        self.save()

    def forget(self, key: str) -> None:
        if self._data.pop(key, None) is not None:
            self.save()

    def as_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(self._data))

    def save(self) -> bool:
        """Write the state; False (and a log line) when the file cannot be written."""
        if self.path is None:
            return False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".ui-state-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump(self._data, fh, indent=1, sort_keys=True, ensure_ascii=False)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as err:
            log.warning("cannot save the UI state to %s: %s", self.path, err)
            return False
        return True
