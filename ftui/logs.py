"""The log file, `$FTUI_HOME/ftui.log` (rotating): every caught exception keeps its traceback there.

The app calls `setup_logging(home)` once at start; code that catches an unexpected exception calls
`log_exception(...)` (or `logging.getLogger(__name__).exception(...)`) so the user sees one clear
line while the details stay in the file.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

LOG_NAME = "ftui.log"
MAX_BYTES = 2_000_000
BACKUPS = 3
_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"


class _FtuiFileHandler(RotatingFileHandler):
    """Ours, so a second setup (another app in the same process, tests) replaces it."""


def log_path(home: Path) -> Path:
    return Path(home) / LOG_NAME


def setup_logging(home: Path, level: int = logging.INFO) -> Path | None:
    """Send the `ftui` loggers to `$FTUI_HOME/ftui.log`. Returns the path, or None when the file
    cannot be written (the app still runs; there is just no log)."""
    logger = logging.getLogger("ftui")
    for handler in list(logger.handlers):
        if isinstance(handler, _FtuiFileHandler):
            logger.removeHandler(handler)
            handler.close()
    path = log_path(home)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _FtuiFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                   encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter(_FORMAT))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
    return path


def current_log_path() -> Path | None:
    """Where `setup_logging` writes now, if it was called."""
    for handler in logging.getLogger("ftui").handlers:
        if isinstance(handler, _FtuiFileHandler):
            return Path(handler.baseFilename)
    return None


def log_exception(message: str, exc: BaseException | None = None,
                  logger: str = "ftui.ui") -> None:
    """Record `message` with the traceback of `exc` (default: the exception being handled)."""
    info = (type(exc), exc, exc.__traceback__) if exc is not None else True
    logging.getLogger(logger).error(message, exc_info=info)
