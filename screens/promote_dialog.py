"""Promotion to production through the regression gate (ftui.registry.gate), shared by the screens
that promote (F4 Models, F5 Experiments). The gate runs in a worker thread, its steps on a
ProgressLine; a refusal opens GateRefusedDialog, which lists every figure (the failed ones
first) and can promote anyway with a reason, which the core keeps in the model's stage history."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from ftui.screens.dialogs import FtuiDialog
from ftui.widgets.progress_line import ProgressLine
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from ftui.errors import FtuiError

# promote(force, gate, on_line) -> anything; force is the reason (None: not forced), gate a result
# already computed for this model and slot (None: run it)
Promote = Callable[[str | None, dict | None, Callable[[str], None]], Any]
COULD_NOT_RUN = "the regression gate could not run"  # registry.promote's wording


def gate_text(result: dict[str, Any]) -> Text:
    """The gate's figures as read in the dialog: FAIL ones first, then the rest, then notes."""
    inc = result["incumbent"]
    text = Text()
    text.append(f"{result['candidate']['name']} against {inc['name'] or 'nothing'}", style="bold")
    text.append((f" ({inc['why']})" if inc.get("why") else "") + f", slot {result['slot']}\n")
    figures = sorted(result["figures"], key=lambda f: {False: 0, True: 1}.get(f["passed"], 2))
    for f in figures:
        mark, style = {False: ("FAIL", "bold red"), True: ("pass", "green")}.get(
            f["passed"], ("----", "dim"))
        text.append(f"{mark}  ", style=style)
        text.append(f"{f['line']}\n", style="" if f["passed"] is not False else "bold")
    for note in result.get("notes", []):
        text.append(f"note: {note}\n", style="dim")
    return text


class GateRefusedDialog(FtuiDialog[str | None]):
    """The gate refused (or could not run): its figures, and a reason field to promote anyway.
    Returns the reason (never empty), or None when the operator leaves it."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"),
                Binding("ctrl+s", "force", "Force", priority=True)]

    def __init__(self, what: str, result: dict[str, Any] | None, error: str | None = None
                 ) -> None:
        super().__init__()
        self.what, self.result, self.error = what, result, error

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="gate-refused"):
            if self.result is not None:
                failed = ", ".join(self.result["failed"]) or "none"
                title = f"The regression gate refused: {self.what} (failed: {failed})"
            else:
                title = f"The regression gate could not run: {self.what}"
            yield Label(title, classes="dialog-title", markup=False)
            with VerticalScroll(classes="dialog-body", id="gate-figures"):
                yield Static(gate_text(self.result) if self.result is not None
                             else Text(self.error or ""), id="gate-lines")
            yield Static("Promote anyway? Say why (kept in the model's history): enter or "
                         "ctrl+s forces, esc leaves it", classes="dialog-hint", markup=False)
            yield Input(placeholder="reason, e.g. hotfix approved by sam", id="force-reason")
            yield Static("", id="force-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Force promote", id="force", variant="error")
                yield Button("Cancel", id="cancel")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_force()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "force":
            self.action_force()
        else:
            self.dismiss(None)

    def action_force(self) -> None:
        reason = self.query_one("#force-reason", Input).value.strip()
        if not reason:
            self.query_one("#force-error", Static).update(
                "a reason is needed to promote past the gate: it is kept in the history")
            self.query_one("#force-reason", Input).focus()
            return
        self.dismiss(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)


class GatedPromotion:
    """One promotion at a time for a screen: `start` runs `promote` in a worker thread, its
    progress on `progress`; `done(result)` runs on the UI thread once it is promoted. A refusal
    opens GateRefusedDialog; a reason given there promotes with `force` (the gate's result is
    passed on, not computed again)."""

    def __init__(self, screen, progress: ProgressLine,
                 log: Callable[[str], None] | None = None) -> None:
        self.screen, self.progress, self.log = screen, progress, log or (lambda _line: None)
        self.what: str | None = None  # what is being promoted, while it is
        self._promote: Promote | None = None
        self._done: Callable[[Any], None] | None = None

    @property
    def running(self) -> bool:
        return self.what is not None

    def start(self, what: str, promote: Promote, done: Callable[[Any], None]) -> bool:
        if self.what is not None:
            self.screen.say(f"{self.what}: still running, wait for it", severity="warning")
            return False
        self.what, self._promote, self._done = what, promote, done
        self.log(f"{what}: running the regression gate…")
        self._attempt(None, None)
        return True

    def _attempt(self, force: str | None, gate: dict | None) -> None:
        self.progress.start(f"regression gate: {self.what}" if force is None
                            else f"{self.what} (forced)")
        self.screen.run_worker(lambda: self._job(force, gate), thread=True, group="promote",
                               exit_on_error=False)

    def _call(self, fn: Callable[..., Any], *args) -> None:
        with contextlib.suppress(RuntimeError):  # the app is closing: nothing left to show
            self.screen.app.call_from_thread(fn, *args)

    def _job(self, force: str | None, gate: dict | None) -> None:
        from ftui.registry.gate import GateRefused

        def on_line(line: str) -> None:
            self._call(self._step, line)

        try:
            out = self._promote(force, gate, on_line)
        except GateRefused as refused:
            self._call(self._refused, refused.result, None)
        except FtuiError as err:
            if force is None and err.message.startswith(COULD_NOT_RUN):
                self._call(self._refused, None, str(err))
            else:
                self._call(self._failed, err)
        except Exception as err:  # noqa: BLE001 - logged with its traceback, said in one line
            self._call(self._failed, err)
        else:
            self._call(self._finished, out)

    def _step(self, line: str) -> None:
        self.progress.step(line)
        self.log(f"  {line}")

    def _refused(self, result: dict | None, error: str | None) -> None:
        self.progress.stop()
        self.log(f"{self.what}: refused by the gate ("
                 + (", ".join(result["failed"]) if result else "it could not run") + ")")

        def answer(reason: str | None) -> None:
            if reason:
                self.log(f"{self.what}: forced, reason: {reason}")
                self._attempt(reason, result)
            else:
                self.log(f"{self.what}: not promoted")
                self.what = None

        self.screen.app.push_screen(GateRefusedDialog(self.what, result, error), answer)

    def _failed(self, err: BaseException) -> None:
        self.progress.stop()
        self.log(f"{self.what}: {err}")
        self.what = None
        self.screen.notify_error(err, f"promoting from {type(self.screen).__name__}")

    def _finished(self, out: Any) -> None:
        self.progress.stop()
        self.what = None
        self._done(out)
