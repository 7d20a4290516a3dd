"""Training: the run list, a new-run form with presets, and a live view of the selected run.

Everything the view shows is read in a worker thread (the store, NVML, psutil) and only drawn on
the UI thread, and only while the screen is visible: a training step never waits on the UI and a
key never waits on the store."""

from __future__ import annotations

from dataclasses import dataclass, field

from ftui.screens.base import FtuiScreen
from ftui.screens.dialogs import ConfirmDialog, TextDialog
from ftui.screens.new_run import NewRunDialog
from ftui.widgets.detail import DetailPane
from ftui.widgets.footer import KeyFooter
from ftui.widgets.gpu_panel import GpuPanel, HostReading, read_host
from ftui.widgets.run_plots import LossPlot, LrPlot
from ftui.widgets.section_bar import SectionBar
from ftui.widgets.table import RecordTable
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.widgets import DataTable, ProgressBar, Static

from ftui import fmt
from ftui.curate import get_dataset, list_datasets
from ftui.errors import FtuiError
from ftui.store import TrainingRun, utcnow
from ftui.train import runs as core
from ftui.train.worker import list_workers, waiting_reason

__all__ = ["NewRunDialog", "TrainingScreen"]

REFRESH_S = 0.5
STALE_CHECK_EVERY = 20  # ticks: a stale-heartbeat check (a write) every ~10 s is plenty
STATUS_STYLE = {"running": "green", "failed": "red", "paused": "yellow", "interrupted": "yellow",
                "completed": "bold green", "cancelling": "bold yellow", "archived": "dim"}
COLUMNS = ("", "id", "status", "base", "data", "progress", "best eval", "started", "took")


def shown_status(run: TrainingRun, cancel_asked: bool = False) -> str:
    """What the operator should read: a cancel or pause asked for shows at once, before the
    worker reaches the end of its step."""
    if run.status in core.ACTIVE and (run.cancel_requested or cancel_asked):
        return "cancelling"
    if run.status == "running" and run.pause_requested:
        return "pausing"
    return run.status


@dataclass
class Snapshot:
    """What one poll read, off the UI thread."""

    runs: list[TrainingRun]
    run: TrainingRun | None = None
    train: list | None = None  # None: unchanged since the last poll
    evals: list | None = None
    lr: list | None = None
    method_curves: dict[str, list] | None = None  # a preference run's own curves (issue 12)
    tokens_per_s: float | None = None
    overlay: dict[str, list] = field(default_factory=dict)
    events: list = field(default_factory=list)
    host: HostReading | None = None
    workers: list[dict] = field(default_factory=list)  # `ftui worker`s sharing the store
    waiting: str | None = None  # why the selected queued run waits


class TrainingScreen(FtuiScreen):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    DEFAULT_CSS = """
    TrainingScreen #tr-body { height: 1fr; layout: horizontal; }
    TrainingScreen #run-table { width: 64; height: 1fr; border-right: solid $primary 50%; }
    TrainingScreen #tr-view { width: 1fr; height: 1fr; padding: 0 1; }
    TrainingScreen #run-header { height: auto; }
    TrainingScreen #tr-plots { height: 1fr; min-height: 12; }
    TrainingScreen #loss { width: 2fr; }
    TrainingScreen #lr { width: 1fr; }
    TrainingScreen #tr-bottom { height: auto; min-height: 8; max-height: 12; }
    TrainingScreen #tr-gpu { width: 1fr; border: round $primary 50%; }
    TrainingScreen #tr-log { width: 2fr; height: auto; border: round $primary 50%; }
    TrainingScreen #tr-workers { width: 1fr; height: auto; border: round $primary 50%;
                                 display: none; }
    TrainingScreen #tr-workers.-shown { display: block; }
    /* 80x24: the list above, the run below in a pane that scrolls (tab, then j/k) */
    TrainingScreen.-narrow #tr-body { layout: vertical; }
    TrainingScreen.-narrow #run-table { width: 100%; height: 7; border-right: none;
                                      border-bottom: solid $primary 50%; }
    TrainingScreen.-narrow #tr-plots { layout: vertical; height: auto; }
    TrainingScreen.-narrow #loss { width: 100%; height: 14; }
    TrainingScreen.-narrow #lr { width: 100%; height: 8; }
    TrainingScreen.-narrow #tr-bottom { layout: vertical; max-height: 100; }
    TrainingScreen.-narrow #tr-gpu, TrainingScreen.-narrow #tr-log,
    TrainingScreen.-narrow #tr-workers { width: 100%; }
    """
    BINDINGS = [
        Binding("n", "new_run", "New"),
        Binding("c", "cancel_run", "Cancel"),
        Binding("p", "pause_run", "Pause"),
        Binding("r", "resume_run", "Resume"),
        Binding("space", "mark", "Mark"),
        Binding("d", "config_diff", "Diff"),
        Binding("a", "archive", "Archive"),
        Binding("A", "toggle_archived", "Show archived", show=False),
        Binding("x", "delete", "Delete"),
        Binding("o", "open_model", "Open model", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected: int | None = None
        self.marked: list[int] = []
        self.show_archived = False
        self.polls = 0  # how many polls ran (a test checks a hidden screen does not poll)
        self._ticks = 0
        self._plotted: tuple | None = None  # (run id, step, marked) last drawn
        self._runs: dict[int, TrainingRun] = {}
        self._row_ids: list[int] = []
        self._cancel_asked: set[int] = set()  # cancel keys whose store write may be pending

    @property
    def store(self):
        return self.app.store

    def compose(self) -> ComposeResult:
        yield SectionBar("training")
        with Container(id="tr-body"):
            yield RecordTable(*COLUMNS, id="run-table",
                              empty_text="no runs yet: press n for a new one")
            with DetailPane(id="tr-view"):
                yield Static("select a run, or press n for a new one", id="run-header")
                yield ProgressBar(id="run-progress", show_eta=False)
                with Horizontal(id="tr-plots"):
                    yield LossPlot(id="loss")
                    yield LrPlot(id="lr")
                with Horizontal(id="tr-bottom"):
                    yield GpuPanel("", id="tr-gpu")
                    yield Static("", id="tr-workers")  # shown once a worker has registered
                    yield Static("", id="tr-log")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#tr-log", Static).border_title = "log"
        self.query_one("#tr-workers", Static).border_title = "workers"
        self.every(REFRESH_S, self.poll)
        self.poll()
        self.query_one("#run-table").focus()

    def on_screen_resume(self) -> None:  # the base resumes the timer; read at once too
        self.poll()

    # ------------------------------------------------------------ polling (worker thread)

    def poll(self) -> None:
        """One read of the store and the host in a worker thread (skipped while the previous
        one is under way, or when the screen is not visible)."""
        if not self.is_current:
            return
        self._ticks += 1
        selected, marked, plotted = self.selected, tuple(self.marked), self._plotted
        check_stale = self._ticks % STALE_CHECK_EVERY == 1
        self.gather(lambda: self._gather(selected, marked, plotted, check_stale), self._apply,
                    group="training-poll")

    def _gather(self, selected, marked, plotted, check_stale) -> Snapshot:
        items = core.list_runs(self.store, check_stale=check_stale,
                               include_archived=self.show_archived)
        live = [w for w in list_workers(self.store) if w["state"] != "stopped"]
        snap = Snapshot(runs=items, host=read_host(), workers=live)
        ids = [r.id for r in items]
        if not ids:
            return snap
        if selected not in ids:
            selected = ids[0]
        run = next(r for r in items if r.id == selected)
        snap.run = run
        snap.waiting = waiting_reason(self.store, run) if run.status == "queued" else None
        snap.events = [e for e in core.events(self.store, run.id, limit=12) if e.level != "debug"]
        # THE figure (trained tokens / running seconds), as `ftui runs show` and the model card
        snap.tokens_per_s = core.tokens_per_second(run)
        if plotted != (run.id, run.step, marked):  # plots only when there is something new
            snap.train = core.metric_series(self.store, run.id, "train_loss")
            snap.evals = core.metric_series(self.store, run.id, "eval_loss")
            snap.lr = core.metric_series(self.store, run.id, "learning_rate")
            method = run.config.get("method", "sft")
            if method != "sft":
                names = {"rewards_chosen": "chosen", "rewards_rejected": "rejected",
                         "rewards_margins": "margin", "eval_rewards_accuracies": "val acc",
                         **({"kl": "KL"} if method == "kto" else {})}
                snap.method_curves = {label: core.metric_series(self.store, run.id, name)
                                      for name, label in names.items()}
            snap.overlay = {f"run {m}": core.metric_series(self.store, m, "train_loss")
                            for m in marked}
        self.polls += 1
        return snap

    # ------------------------------------------------------------ drawing (UI thread)

    def _apply(self, snap: Snapshot) -> None:
        self._runs = {r.id: r for r in snap.runs}
        self._fill_table(snap.runs)
        if snap.host is not None:
            self.query_one(GpuPanel).show(snap.host)
        self._draw_workers(snap.workers, snap.waiting)
        if snap.run is None:
            self.query_one("#run-header", Static).update(
                "no runs yet: press n for a new one" if not self.show_archived else "no runs")
            return
        if self.selected not in self._runs:
            self.selected = snap.run.id
        if snap.run.id != self.selected:
            return  # the cursor moved during the read: the next tick reads the new run
        starting = snap.run.status == "running" and snap.run.step == 0 and snap.events
        self._draw_header(snap.run, snap.tokens_per_s,
                          snap.events[-1].message if starting else None)
        if snap.train is not None:
            self._plotted = (snap.run.id, snap.run.step, tuple(self.marked))
            overlay = snap.overlay if len(snap.overlay) > 1 else None  # two or more marked
            self.query_one(LossPlot).show(snap.train, snap.evals or [], overlay)
            if snap.method_curves is not None:
                method = snap.run.config.get("method", "sft")
                self.query_one(LrPlot).show_curves(f"{method}: rewards", snap.method_curves)
            else:
                self.query_one(LrPlot).show(snap.lr or [])
        lines = Text()
        for e in snap.events[-8:]:
            lines.append(f"{e.created_at:%H:%M:%S} ", style="dim")
            lines.append(e.message + "\n", style="red" if e.level == "error" else "")
        self.query_one("#tr-log", Static).update(lines)

    def _draw_workers(self, workers: list[dict], waiting: str | None) -> None:
        """The live workers sharing the store (hidden while there are none): state, heartbeat age,
        GPUs, current run; and why the selected queued run waits, when it does."""
        panel = self.query_one("#tr-workers", Static)
        panel.set_class(bool(workers or waiting), "-shown")
        text = Text()
        for w in workers[:6]:
            style = {"training": "green", "idle": "", "gone": "yellow"}.get(w["state"], "dim")
            gpus = f"{w['gpu_count']} GPU" if w["gpu_count"] else "CPU"
            run = f" run {w['current_run']}" if w["current_run"] else ""
            text.append(f"{w['name'][:22]} ", style="bold")
            text.append(f"{w['state']}{run}", style=style)
            text.append(f" · {gpus} · {fmt.duration(w['heartbeat_age_s'])}\n", style="dim")
        if waiting:
            text.append(f"waiting: {waiting}", style="yellow")
        panel.update(text)

    def _cells(self, r: TrainingRun) -> tuple[str, ...]:
        progress = f"{r.step}/{r.total_steps}" if r.total_steps else str(r.step)
        best = fmt.figure(r.best_eval_loss)
        started = f"{r.started_at:%m-%d %H:%M}" if r.started_at else "-"
        status = shown_status(r, r.id in self._cancel_asked)
        return ("•" if r.id in self.marked else "", str(r.id),
                Text(status, style=STATUS_STYLE.get(status, "")), r.base_model[:16],
                str(r.dataset_id), progress, best, started,
                fmt.clock(r.started_at, r.finished_at, utcnow()))

    def _fill_table(self, items: list[TrainingRun]) -> None:
        """Only the cells that changed are redrawn (RecordTable.show_rows)."""
        self._row_ids = [r.id for r in items]
        self.query_one("#run-table", RecordTable).show_rows(
            ((r.id, self._cells(r)) for r in items), keep=self.selected)

    def _draw_header(self, run: TrainingRun, tokens_per_s: float | None,
                     starting: str | None = None) -> None:
        """`starting`: what a run that has not made its first step is doing (loading the base,
        de-quantizing the demo model the first time, with its percentage)."""
        status = shown_status(run, run.id in self._cancel_asked)
        eta = "-"
        if run.status == "running" and run.started_at and run.total_steps:
            eta = fmt.eta(run.step, run.total_steps, (utcnow() - run.started_at).total_seconds())
        head = Text()
        head.append(f"run {run.id}  ", style="bold")
        head.append(status, style=STATUS_STYLE.get(status, "dim"))
        head.append(f"   base {run.base_model} · dataset {run.dataset_id}\n")
        head.append(f"step {run.step}/{run.total_steps or '?'} · epoch {run.epoch:.2f} · "
                    f"elapsed {fmt.clock(run.started_at, run.finished_at, utcnow())} · ETA {eta}"
                    + (f" · {tokens_per_s:,.0f} tokens/s" if tokens_per_s else ""), style="dim")
        if run.best_eval_loss is not None:
            head.append(f" · best eval {fmt.figure(run.best_eval_loss)}", style="dim")
        if starting:
            head.append(f"\n{starting}", style="yellow")
        if status == "cancelling":
            head.append("\ncancelling: the run stops at the end of its current step, keeping a "
                        "checkpoint", style="yellow")
        if run.error:
            head.append(f"\n{run.error}", style="bold red")
        if run.adapter_dir:
            head.append(f"\nadapter: {run.adapter_dir}", style="cyan")
        if self.marked:
            head.append(f"\nmarked: {', '.join(map(str, self.marked))} (space marks; two or "
                        "more overlay their loss, d compares their settings)", style="dim")
        self.query_one("#run-header", Static).update(head)
        self.query_one("#run-progress", ProgressBar).update(total=max(run.total_steps, 1),
                                                            progress=run.step)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        new = self.query_one("#run-table", RecordTable).key_of(event.row_key)
        if new is None or new == self.selected:
            return
        self.selected = new
        if new in self._runs:  # draw what is known now; the plots follow on the next read
            self._draw_header(self._runs[new], None)
        self.poll()

    # ------------------------------------------------------------ actions

    def _run(self) -> TrainingRun | None:
        if self.selected is None or self.selected not in self._runs:
            self.say("no run selected", severity="warning")
            return None
        return self._runs[self.selected]

    def _act(self, action, *args) -> TrainingRun | None:
        run = self._run()
        if run is None:
            return None
        try:
            out = action(self.store, run.id, *args)
        except FtuiError as err:
            self.notify_error(err)
            return None
        if isinstance(out, TrainingRun):  # show the new state now, not at the next tick
            self._runs[out.id] = out
            self._fill_table([self._runs[i] for i in self._row_ids if i in self._runs])
            if out.id == self.selected:
                self._draw_header(out, None)
        self.poll()
        return out

    def action_cancel_run(self) -> None:
        """"cancelling" shows at once; the request is written in a thread (the store may be
        busy with the trainer's own writes for a moment)."""
        run = self._run()
        if run is None:
            return
        if run.status in core.ACTIVE:
            self._cancel_asked.add(run.id)  # until the store says so too
            shown = run.model_copy(update={"cancel_requested": True})
            self._runs[run.id] = shown
            self._fill_table([self._runs[i] for i in self._row_ids if i in self._runs])
            if run.id == self.selected:
                self._draw_header(shown, None)
        def write():
            try:
                return core.request_cancel(self.store, run.id)
            except Exception:
                self._cancel_asked.discard(run.id)  # refused: show the real status again
                raise

        self.gather(write, lambda _run: self.poll(), group=f"cancel-{run.id}")

    def action_pause_run(self) -> None:
        run = self._run()
        if run is not None:
            self._act(core.request_pause, not run.pause_requested)

    def action_resume_run(self) -> None:
        run = self._run()
        if run is not None and run.status == "paused":  # "resume" a paused run: unpause it
            self._act(core.request_pause, False)
            return

        def resume(store, run_id):
            run = core.resume_run(store, run_id)
            self.app.train_in_app(run_id)
            return run

        self._act(resume)

    def action_mark(self) -> None:
        run = self._run()
        if run is None:
            return
        if run.id in self.marked:
            self.marked.remove(run.id)
        else:
            self.marked.append(run.id)
        self._fill_table([self._runs[i] for i in self._row_ids if i in self._runs])
        self._draw_header(run, None)
        self.poll()

    def action_config_diff(self) -> None:
        pair = self.marked[-2:] if len(self.marked) >= 2 else (
            [self.marked[0], self.selected] if self.marked and self.selected not in self.marked
            else None)
        if not pair:
            self.say("mark a run with space, select another (or mark it too), then d",
                            severity="warning")
            return
        a, b = pair
        try:
            rows = core.config_diff(self.store, a, b)
        except FtuiError as err:
            self.notify_error(err)
            return
        width = max([len(k) for k, _, _ in rows] + [8])
        lines = [f"{'setting':<{width}}  {'run ' + str(a):>14}  {'run ' + str(b):>14}"]
        lines += [f"{k:<{width}}  {fmt.figure(va):>14}  {fmt.figure(vb):>14}"
                  for k, va, vb in rows] or ["the two runs have the same settings"]
        self.app.push_screen(TextDialog(f"run {a} vs run {b}: settings that differ",
                                        "\n".join(lines)))

    def action_archive(self) -> None:
        run = self._run()
        if run is None:
            return
        restore = run.status == "archived"
        out = self._act(core.archive_run, not restore)
        if out is not None:
            self.say(f"run {run.id} restored" if restore else
                            f"run {run.id} archived: A shows archived runs, a restores one")

    def action_toggle_archived(self) -> None:
        self.show_archived = not self.show_archived
        self.say("archived runs shown" if self.show_archived else "archived runs hidden")
        self.poll()

    def action_delete(self) -> None:
        run = self._run()
        if run is None:
            return
        delete = getattr(core, "delete_run", None)
        if delete is None:
            self.say("deleting runs is not available in this version", severity="warning")
            return

        def done(yes: bool) -> None:
            if yes and self._act(lambda store, run_id: delete(store, run_id)) is not None:
                self.marked = [m for m in self.marked if m != run.id]
                self.say(f"run {run.id} deleted")

        self.app.push_screen(ConfirmDialog(
            f"Delete run {run.id} ({run.status}, base {run.base_model})?\n\nIts metrics and log "
            f"are forgotten; its files stay{' in ' + run.output_dir if run.output_dir else ''}"
            " and a model registered from it stays in the registry.",
            yes="Delete"), done)

    def action_open_model(self) -> None:
        run = self._run()
        if run is None:
            return
        if not run.adapter_dir:
            self.say(f"run {run.id} has no model yet ({run.status})", severity="warning")
            return
        from ftui.registry import list_models

        model = next((m for m in list_models(self.store) if m.run_id == run.id), None)
        where = (f"model {model.id} '{model.name}' ({model.stage}, slot {model.slot}); "
                 if model else "")
        self.say(f"run {run.id}: {where}adapter in {run.adapter_dir}", timeout=10)

    def action_new_run(self) -> None:
        datasets = list_datasets(self.store)
        if not datasets:
            self.say("no dataset yet: build one in Datasets (F2) first", severity="warning")
            return

        def start(answer) -> None:
            if answer is None:
                return
            dataset_id, base, config, detach = answer
            try:
                get_dataset(self.store, dataset_id)
                run = core.create_run(self.store, dataset_id, base, config)
            except FtuiError as err:
                self.notify_error(err)
                return
            if detach:
                from ftui.train.trainer import run_dir
                from ftui.train.worker import spawn_detached

                pid = spawn_detached(self.app.settings.database_url, run.id,
                                     run_dir(self.app.settings.home, run.id) / "worker.log")
                self.say(f"run {run.id} started in a background process (pid {pid})")
            else:
                self.app.train_in_app(run.id)
                self.say(f"run {run.id} queued in this app")
            self.selected = run.id
            self.poll()

        self.app.push_screen(NewRunDialog(datasets), start)
