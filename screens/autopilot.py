"""Autopilot (F7): the pipeline view. The cycles the autopilot ran, each one's steps (trigger,
dataset, training, gate with its figures, deploy, experiment, decision and why), the kill
switch, and the policy editor. The autopilot itself runs as `ftui autopilot run`; this screen
reads the store in a worker thread, only while it is visible, and says when a cycle ends."""

from __future__ import annotations

from dataclasses import dataclass

from ftui.screens.base import FtuiScreen
from ftui.screens.dialogs import ConfirmDialog, FtuiDialog
from ftui.widgets.detail import DetailPane
from ftui.widgets.footer import KeyFooter
from ftui.widgets.section_bar import SectionBar
from ftui.widgets.table import RecordTable
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.widgets import DataTable, Label, Static, TextArea

from ftui.errors import FtuiError

REFRESH_S = 2.0
ENDS_S = 5.0  # how often ended cycles are looked for (also while another section is shown)
STATUS_STYLE = {"done": "green", "failed": "bold red", "running": "yellow", "waiting": "cyan"}
OUTCOME_STYLE = {"promoted": "bold green", "rolled_back": "bold yellow", "gate_failed": "yellow",
                 "failed": "bold red", "no_new_data": "dim", "no_verdict": "yellow"}


class PolicyDialog(FtuiDialog[bool]):
    """autopilot.toml in an editor: ctrl+s checks it and saves only a valid policy (the
    problems are shown here, the dialog stays open with the text)."""

    BINDINGS = [Binding("ctrl+s", "save", "Save", priority=True),
                Binding("escape", "cancel", "Cancel")]

    def __init__(self, home, text: str) -> None:
        super().__init__()
        self.home, self.text = home, text

    def compose(self) -> ComposeResult:
        from ftui.autopilot.policy import policy_path

        with Vertical(classes="dialog wide", id="policy-dialog"):
            yield Label(f"Autopilot policy {policy_path(self.home)} — ctrl+s checks and saves, "
                        "esc cancels", classes="dialog-title", markup=False)
            yield TextArea(self.text, id="policy-editor", soft_wrap=False,
                           show_line_numbers=True)
            yield Static("", id="policy-error", classes="dialog-error", markup=False)

    def on_mount(self) -> None:
        self.query_one("#policy-editor", TextArea).focus()

    def action_save(self) -> None:
        from ftui.autopilot.policy import save_policy_text

        try:
            save_policy_text(self.home, self.query_one("#policy-editor", TextArea).text)
        except FtuiError as err:
            self.query_one("#policy-error", Static).update(str(err))
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


@dataclass
class Pipeline:
    """What the screen shows, read off the UI thread."""
    status: dict
    cycle: dict | None  # the selected cycle with its steps


class AutopilotScreen(FtuiScreen):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    DEFAULT_CSS = """
    AutopilotScreen #ap-head { height: auto; padding: 0 1; border-bottom: solid $primary 50%; }
    AutopilotScreen #ap-main { height: 1fr; layout: horizontal; }
    AutopilotScreen #ap-table { width: 44; height: 1fr; border-right: solid $primary 50%; }
    AutopilotScreen #ap-detail { width: 1fr; height: 1fr; padding: 0 1; }
    /* 80x24: the cycles above, the selected cycle's steps below */
    AutopilotScreen.-narrow #ap-main { layout: vertical; }
    AutopilotScreen.-narrow #ap-table { width: 100%; height: 6; border-right: none;
                                        border-bottom: solid $primary 50%; }
    #policy-dialog { height: 90%; }
    #policy-editor { height: 1fr; }
    """
    BINDINGS = [
        Binding("x", "kill_switch", "Pause/resume",
                tooltip="The kill switch: a paused autopilot starts no new step (a training "
                        "run or gate in progress stops at its next check)"),
        Binding("p", "policy", "Policy", tooltip="Edit and check autopilot.toml"),
        Binding("u", "undo", "Undo cycle", show=False,
                tooltip="Reverse the selected cycle's promotion or rollback (stage history)"),
        Binding("t", "retry", "Retry cycle", show=False,
                tooltip="Take the selected failed cycle up again at the step that failed"),
        Binding("r", "reload", "Reload", show=False),
    ]
    HELP_GROUPS = {"kill_switch": "Autopilot", "policy": "Autopilot", "reload": "Autopilot",
                   "undo": "Autopilot", "retry": "Autopilot"}

    def __init__(self) -> None:
        super().__init__()
        self.selected: int | None = None
        self.paused: bool | None = None
        self.reads = 0  # how many times the store was read (a hidden screen reads nothing)

    def compose(self) -> ComposeResult:
        yield SectionBar("autopilot")
        yield Static("reading the autopilot's state...", id="ap-head")
        with Container(id="ap-main"):
            yield RecordTable("id", "status", "outcome", "began", id="ap-table",
                              empty_text="no cycles yet")
            with DetailPane(id="ap-detail"):
                yield Static("", id="ap-steps")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.every(REFRESH_S, self.refresh_all)
        self.set_interval(ENDS_S, self.check_ends)  # notifications also from a hidden screen
        self.refresh_all()
        self.query_one("#ap-table").focus()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        self.refresh_all()

    # ------------------------------------------------------------ reading (worker thread)

    def refresh_all(self) -> None:
        if not self.is_current:
            return
        selected = self.selected
        self.gather(lambda: self._read(selected), self._show, group="autopilot")

    def _read(self, selected: int | None) -> Pipeline:
        from ftui.autopilot import status
        from ftui.autopilot.state import cycle_dict, get_cycle

        s = self.settings
        data = status(self.store, s.home, s.ollama_host, settings_extra=s.extra, cycles=200)
        ids = [c["id"] for c in data["cycles"]]
        cycle = None
        if ids:
            pick = selected if selected in ids else ids[0]
            cycle = next(c for c in data["cycles"] if c["id"] == pick)
        elif selected is not None:
            try:
                cycle = cycle_dict(self.store, get_cycle(self.store, selected))
            except FtuiError:
                cycle = None
        self.reads += 1
        return Pipeline(status=data, cycle=cycle)

    def check_ends(self) -> None:
        from ftui.autopilot.state import unnotified_ends

        self.gather(lambda: unnotified_ends(self.store), self._say_ends, group="ap-ends")

    # ------------------------------------------------------------ drawing (UI thread)

    def _say_ends(self, ended: list) -> None:
        if len(ended) > 3:  # e.g. the first look after a night of cycles: one line
            kinds = ", ".join(sorted({c.outcome or c.status for c in ended}))
            self.say(f"autopilot: {len(ended)} cycles ended ({kinds}); F7 shows them")
            return
        for c in ended:
            failed = c.status == "failed"
            text = f"autopilot cycle {c.id} {'failed' if failed else 'ended'}: " + (
                c.error if failed else f"{c.outcome}: {c.reason}")
            self.say(text, severity="error" if failed else "information", timeout=10)

    def _show(self, board: Pipeline) -> None:
        st = board.status
        lock = st["lock"]
        self.paused = lock["paused"]
        head = Text()
        if lock["paused"]:
            head.append("PAUSED", style="bold reverse red")
            head.append(" (kill switch on: x resumes)" + (f" — {lock['pause_note']}"
                                                           if lock["pause_note"] else ""))
        else:
            head.append("active", style="bold green")
            head.append(" (x pauses)")
        head.append("   ")
        if lock["holder"]:
            head.append(f"running as {lock['holder']}", style="green")
        else:
            head.append("not running (start it with: ftui autopilot run)", style="dim")
        head.append("\n")
        if st["policy_error"]:
            from ftui.autopilot.policy import policy_path

            where = policy_path(self.settings.home)
            head.append(f"policy: no autopilot policy at {where}\n  fix: p here writes one, "
                        "starting from the example\n" if not where.is_file()  # this screen's key
                        else f"policy: {st['policy_error']}\n", style="red")
        elif st["next"]:
            head.append(f"next: {st['next']['did']}", style="bold")
            head.append(f" — {st['next']['why']}\n", style="dim")
        self.query_one("#ap-head", Static).update(head)
        table = self.query_one("#ap-table", RecordTable)
        self.selected = table.show_rows(
            ((c["id"], (str(c["id"]), Text(c["status"], style=STATUS_STYLE.get(
                c["status"], "")), Text(c["outcome"] or c["stage"], style=OUTCOME_STYLE.get(
                    c["outcome"] or "", "")), c["created_at"][5:16].replace("T", " ")))
             for c in st["cycles"]), keep=self.selected)
        cycle = board.cycle
        if cycle is not None and cycle["id"] != self.selected and self.selected is not None:
            self.refresh_all()  # the cursor moved during the read
            return
        self.query_one("#ap-steps", Static).update(self._steps(cycle))

    @staticmethod
    def _steps(cycle: dict | None):
        if cycle is None:
            return Text("No cycle yet. p edits the policy; `ftui autopilot run` starts the "
                        "autopilot, `ftui autopilot once --dry-run` says what it would do.",
                        style="dim")
        title = Text()
        title.append(f"cycle {cycle['id']}  ", style="bold")
        title.append(cycle["outcome"] or cycle["status"], style=OUTCOME_STYLE.get(
            cycle["outcome"] or "", STATUS_STYLE.get(cycle["status"], "")))
        if cycle["reason"]:
            title.append(f"\n{cycle['reason']}", style="dim")
        if cycle["error"]:
            title.append(f"\nerror: {cycle['error']}", style="red")
        steps = Table(box=None, pad_edge=False, expand=True, show_header=True)
        steps.add_column("step", no_wrap=True)
        steps.add_column("", no_wrap=True)
        steps.add_column("what and why", ratio=1)
        for s in cycle["steps"]:
            steps.add_row(s["name"], Text(s["status"], style=STATUS_STYLE.get(s["status"], "")),
                          Text(s["summary"]))
        parts = [title, Text(""), steps]
        gate = next((s for s in reversed(cycle["steps"]) if s["name"] == "gate"), None)
        if gate and gate["detail"].get("figures"):
            figures = Table(box=None, pad_edge=False, title="gate figures", title_justify="left")
            for col in ("figure", "candidate", "incumbent", "rule", ""):
                figures.add_column(col)
            for f in gate["detail"]["figures"]:
                verdict = {True: Text("pass", style="green"), False: Text("FAIL", style="red"),
                           None: Text("-", style="dim")}[f["passed"]]
                figures.add_row(f["name"], _num(f["candidate"]), _num(f["incumbent"]),
                                f["rule"], verdict)
            parts += [Text(""), figures]
        return Group(*parts)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = self.query_one("#ap-table", RecordTable).key_of(event.row_key)
        if key is not None and key != self.selected:
            self.selected = key
            self.refresh_all()

    # ------------------------------------------------------------ actions

    def action_reload(self) -> None:
        self.refresh_all()

    def action_kill_switch(self) -> None:
        from ftui.autopilot import set_paused

        pause = not self.paused
        done = self.attempt(set_paused, self.store, pause, "paused from the TUI" if pause
                            else None, refresh=self.refresh_all)
        if done is not None:
            self.paused = pause
            self.say("autopilot paused: no new step starts" if pause else "autopilot resumed",
                     severity="warning" if pause else "information")

    def action_undo(self) -> None:
        from ftui.autopilot import undo_cycle

        cycle_id = self.selected
        if cycle_id is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                said = self.attempt(undo_cycle, self.store, cycle_id, refresh=self.refresh_all)
                if said:
                    self.say(said)

        self.app.push_screen(ConfirmDialog(
            f"Undo what autopilot cycle {cycle_id} did to the registry? A promotion gives "
            "production back to the model it replaced; a rollback makes the candidate a "
            "candidate again. Both are written in the stage history."), answered)

    def action_retry(self) -> None:
        from ftui.autopilot import retry_cycle

        if self.selected is None:
            return
        cycle = self.attempt(retry_cycle, self.store, self.selected, refresh=self.refresh_all)
        if cycle is not None:
            self.say(f"cycle {cycle.id} taken up again at {cycle.stage}: the running autopilot "
                     "redoes that step")

    def action_policy(self) -> None:
        from ftui.autopilot.policy import policy_text

        text = self.attempt(policy_text, self.settings.home)
        if text is None:
            return

        def done(saved: bool | None) -> None:
            if saved:
                self.say("policy saved: the autopilot uses it from its next step")
                self.refresh_all()

        self.app.push_screen(PolicyDialog(self.settings.home, text), done)


def _num(value) -> str:
    from ftui import fmt

    return fmt.DASH if value is None else fmt.figure(value, 3)
