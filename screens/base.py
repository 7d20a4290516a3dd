"""What every ftui screen shares: store access, errors shown as notifications (one timeout, markup
escaped) and written with their traceback to the log file, timers that run only while the screen
is visible, and data gathered in worker threads, never on the UI thread.

A section screen subclasses `FtuiScreen`:

    class RunsScreen(FtuiScreen):
        def on_mount(self):
            self.every(2.0, self.poll)             # paused while another screen is shown

        def poll(self):
            self.gather(lambda: core.list_runs(self.store), self.show_runs, group="runs")
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import Worker, get_current_worker

from ftui.errors import FtuiError
from ftui.logs import current_log_path, log_exception

T = TypeVar("T")
ERROR_TIMEOUT_S = 10.0  # every error notification stays this long


def error_text(err: BaseException | str) -> str:
    """One line for the user: an FtuiError as it is (cause and fix), anything else named as
    unexpected with a pointer to the log file, where its traceback is."""
    if isinstance(err, str):
        return err
    if isinstance(err, FtuiError):
        return str(err)
    where = current_log_path()
    detail = f"details in {where}" if where else "details in the log"
    return f"unexpected error: {type(err).__name__}: {err} ({detail})"


def report_error(app, err: BaseException | str, context: str = "") -> None:
    """Show `err` as an error notification (markup escaped) and log unexpected ones with their
    traceback. Safe to call from the UI thread only."""
    if isinstance(err, FtuiError):  # the user's to fix: kept in the log, quietly
        logging.getLogger("ftui.ui").info("refused: %s", err, exc_info=err)
    elif isinstance(err, BaseException):
        log_exception(context or "unexpected error in the UI", err)
    app.notify(error_text(err), severity="error", timeout=ERROR_TIMEOUT_S, markup=False)


class FtuiScreen(Screen):
    """Base of every section screen (and usable by dialogs that need the store)."""

    BINDINGS = [Binding("question_mark", "help", "Help", key_display="?")]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._visible_timers: list[Timer] = []
        self._busy_groups: set[str] = set()
        self._pending: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {}

    # ------------------------------------------------------------ shared state

    @property
    def store(self):
        return self.app.store

    @property
    def settings(self):
        return self.app.settings

    @property
    def ui_state(self):
        """The UI state remembered in $FTUI_HOME (ftui.uistate.UiState)."""
        return self.app.ui_state

    def recall(self, key: str, default: Any = None, kind: type | tuple[type, ...] | None = None
               ) -> Any:
        """A value remembered in $FTUI_HOME between sessions (e.g. "training.new_run" -> the form
        values as a dict); `default` when absent or not of `kind`."""
        return self.app.ui_state.get(key, default, kind)

    def remember(self, key: str, value: Any) -> None:
        """Keep `value` (JSON-able: dict, list, str, numbers) for the next session."""
        self.app.ui_state.set(key, value)

    # ------------------------------------------------------------ messages

    def notify_error(self, err: BaseException | str, context: str = "") -> None:
        report_error(self.app, err, context)

    def say(self, message: str, severity: str = "information",
            timeout: float | None = None) -> None:
        """A notification whose text is shown as is (no markup: `ftui[hf]` stays `ftui[hf]`)."""
        if severity in ("error", "warning") and timeout is None:
            timeout = ERROR_TIMEOUT_S
        self.app.notify(message, severity=severity, timeout=timeout, markup=False)

    def attempt(self, fn: Callable[..., T], *args, refresh: Callable[[], None] | None = None,
                **kwargs) -> T | None:
        """fn(*args, **kwargs), or None after showing why it failed (never a traceback on
        screen); `refresh` runs either way (the store may have changed before the failure)."""
        try:
            return fn(*args, **kwargs)
        except FtuiError as err:
            self.notify_error(err)
        except Exception as err:  # noqa: BLE001 - the catch-all of a UI action: log it, say it
            self.notify_error(err, f"{type(self).__name__}: {getattr(fn, '__name__', fn)}")
        finally:
            if refresh is not None:
                refresh()
        return None

    # ------------------------------------------------------------ timers and workers

    def every(self, seconds: float, callback: Callable[[], Any]) -> Timer:
        """A repeating timer that runs only while this screen is the visible one."""
        timer = self.set_interval(seconds, callback, pause=not self.is_current)
        self._visible_timers.append(timer)
        return timer

    def on_screen_suspend(self) -> None:
        for timer in self._visible_timers:
            timer.pause()

    def on_screen_resume(self) -> None:
        for timer in self._visible_timers:
            timer.resume()

    def gather(self, fetch: Callable[[], T], show: Callable[[T], None], *, group: str,
               skip_if_busy: bool = True, latest: bool = False) -> Worker | None:
        """Run `fetch()` in a worker thread, then `show(result)` on the UI thread (if the screen is
        still mounted). Failures become one notification and a log entry.

        When the previous call of `group` is still running: a poll is skipped (`skip_if_busy`,
        the default) instead of piling up; with `latest=True` this call runs once the running one
        has finished (only the newest waiting call: for recounts after each edit); with
        `skip_if_busy=False` it starts at once and the older result is dropped (a search)."""
        if group in self._busy_groups and (skip_if_busy or latest):
            if latest:
                self._pending[group] = (fetch, show)
            return None
        self._busy_groups.add(group)

        def job() -> None:
            try:
                result = fetch()
            except Exception as err:  # noqa: BLE001 - reported on the UI thread
                self._from_thread(self._fetch_failed, group, err)
                return
            if not get_current_worker().is_cancelled:
                self._from_thread(self._deliver, group, show, result)
            else:
                self._from_thread(self._done, group)

        return self.run_worker(job, thread=True, group=group, exit_on_error=False,
                               exclusive=not skip_if_busy)

    def _from_thread(self, fn: Callable[..., Any], *args) -> None:
        with contextlib.suppress(RuntimeError):  # the app is shutting down: nothing to show
            self.app.call_from_thread(fn, *args)

    def _done(self, group: str) -> None:
        self._busy_groups.discard(group)
        pending = self._pending.pop(group, None)
        if pending is not None and self.is_mounted:
            self.gather(*pending, group=group, latest=True)

    def _deliver(self, group: str, show: Callable[[Any], None], result: Any) -> None:
        try:
            if self.is_mounted:
                show(result)
        except Exception as err:  # noqa: BLE001
            self.notify_error(err, f"{type(self).__name__}: showing {group}")
        finally:
            self._done(group)

    def _fetch_failed(self, group: str, err: Exception) -> None:
        self.notify_error(err, f"{type(self).__name__}: gathering {group}")
        self._done(group)

    # ------------------------------------------------------------ help

    def action_help(self) -> None:
        from ftui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self))
