"""Training: the run list, a new-run form with presets, and a live view of the selected run."""

from __future__ import annotations

from datetime import datetime

from ftui.widgets.run_plots import LossPlot, LrPlot
from ftui.widgets.section_bar import SectionBar
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Label, ProgressBar, Select, Static

from ftui.curate import get_dataset, list_datasets
from ftui.errors import FtuiError
from ftui.store import utcnow
from ftui.telemetry import gpu_stats, host_stats, no_gpu_reason
from ftui.train import runs as core
from ftui.train.config import PRESETS, RunConfig
from ftui.train.estimate import base_config, estimate, memory_need

REFRESH_S = 0.5
FORM_FIELDS = ("epochs", "max_steps", "batch_size", "grad_accum", "learning_rate", "lora_r",
               "lora_alpha", "max_seq_len", "eval_steps", "save_steps")


def _duration(start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return "-"
    seconds = int(((end or utcnow()) - start).total_seconds())
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class NewRunDialog(ModalScreen[tuple[int, str, RunConfig, bool] | None]):
    """A form over the run config, with presets and an estimate of steps and tokens."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"),
                Binding("ctrl+s", "start", "Start", priority=True)]

    def __init__(self, datasets: list) -> None:
        super().__init__()
        self.datasets = datasets

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="new-run"):
            yield Label("New training run — ctrl+s starts, esc cancels", classes="dialog-title")
            with Horizontal(classes="form-row"):
                yield Label("preset", classes="form-label")
                yield Select([(k, k) for k in PRESETS], value=next(iter(PRESETS)), id="preset",
                             allow_blank=False, compact=True)
                yield Label("dataset", classes="form-label")
                yield Select([(f"{d.id} {d.name} ({d.examples})", d.id) for d in self.datasets],
                             value=self.datasets[0].id, allow_blank=False, id="dataset",
                             compact=True)
            with Horizontal(classes="form-row"):
                yield Label("base", classes="form-label")
                yield Input("tiny", id="base", compact=True,
                            placeholder="tiny, demo, a model folder, a .gguf, an HF id")
                yield Label("where", classes="form-label")
                yield Select([("in this app", "app"), ("background process", "detach")],
                             value="app", allow_blank=False, id="where", compact=True)
            defaults = RunConfig()
            for i in range(0, len(FORM_FIELDS), 2):
                with Horizontal(classes="form-row"):
                    for name in FORM_FIELDS[i:i + 2]:
                        yield Label(name.replace("_", " "), classes="form-label")
                        yield Input(str(getattr(defaults, name)), id=f"f_{name}", compact=True)
            yield Static("", id="estimate")
            yield Static("", id="new-run-error", classes="dialog-error")

    def on_mount(self) -> None:
        self._apply_preset(next(iter(PRESETS)))

    def _apply_preset(self, name: str) -> None:
        preset = PRESETS[name]
        if preset["base"]:
            self.query_one("#base", Input).value = preset["base"]
        config = RunConfig().with_(**preset["config"])
        for field in FORM_FIELDS:
            self.query_one(f"#f_{field}", Input).value = str(getattr(config, field))
        self._update_estimate()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset":
            self._apply_preset(str(event.value))
        else:
            self._update_estimate()

    def on_input_changed(self, _event: Input.Changed) -> None:
        self._update_estimate()

    def config(self) -> RunConfig:
        values = {f: self.query_one(f"#f_{f}", Input).value for f in FORM_FIELDS}
        preset = PRESETS[str(self.query_one("#preset", Select).value)]["config"]
        return RunConfig.from_dict({**preset, **values}).validate()

    def _update_estimate(self) -> None:
        box = self.query_one("#estimate", Static)
        try:
            config = self.config()
            ds = next(d for d in self.datasets if d.id == self.query_one("#dataset", Select).value)
            est = estimate(ds, config)
        except (FtuiError, StopIteration) as err:
            box.update(Text(str(err), style="red"))
            return
        on_gpu = no_gpu_reason() is None
        gpu = "" if on_gpu else f"\n{no_gpu_reason()}: trains on the CPU"
        memory = ""
        base = self.query_one("#base", Input).value.strip()
        base_cfg = base_config(base, self.app.settings.home) if base else None
        need = memory_need(base_cfg, config, "bf16" if on_gpu else "fp32") if base_cfg else None
        if need is not None:
            memory = (f"\nmemory ≈ {need.total_gib:.1f} GiB {'on the GPU' if on_gpu else 'of RAM'}"
                      f" (weights {need.weights_gib:.1f}, adapter+optimizer "
                      f"{need.adapter_gib:.2f}, activations {need.activations_gib:.1f}; "
                      f"{need.params / 1e6:,.0f}M parameters)")
        box.update(f"{est.train_examples} train examples · {est.steps_per_epoch} steps/epoch · "
                   f"{est.total_steps} steps · {est.tokens_per_epoch:,} tokens/epoch"
                   f"{'' if est.tokens_exact else ' (approx.)'}{memory}{gpu}")

    def action_start(self) -> None:
        try:
            config = self.config()
        except FtuiError as err:
            self.query_one("#new-run-error", Static).update(str(err))
            return
        base = self.query_one("#base", Input).value.strip()
        if not base:
            self.query_one("#new-run-error", Static).update("give a base model")
            return
        self.dismiss((int(self.query_one("#dataset", Select).value), base, config,
                      self.query_one("#where", Select).value == "detach"))

    def action_cancel(self) -> None:
        self.dismiss(None)


class TrainingScreen(Screen):
    BINDINGS = [
        Binding("n", "new_run", "New run"),
        Binding("c", "cancel_run", "Cancel"),
        Binding("p", "pause_run", "Pause/continue"),
        Binding("r", "resume_run", "Resume"),
        Binding("o", "open_model", "Open model"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected: int | None = None
        self._last_plot_step = -1
        self._ticks = 0

    @property
    def store(self):
        return self.app.store

    def compose(self) -> ComposeResult:
        yield SectionBar("training")
        with Horizontal(id="training-body"):
            with Vertical(id="runs-left"):
                yield DataTable(id="runs", cursor_type="row")
            with Vertical(id="run-view"):
                yield Static("select a run, or press n for a new one", id="run-header")
                yield ProgressBar(id="run-progress", show_eta=False)
                with Horizontal(id="run-plots"):
                    yield LossPlot(id="loss")
                    yield LrPlot(id="lr")
                with Horizontal(id="run-bottom"):
                    yield Static("", id="gpu")
                    yield Static("", id="log-tail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        table.add_columns("id", "status", "base", "data", "progress", "best eval", "started",
                          "took")
        self.refresh_all()
        self.set_interval(REFRESH_S, self.refresh_all)
        table.focus()

    # ------------------------------------------------------------ refresh

    def refresh_all(self) -> None:
        table = self.query_one("#runs", DataTable)
        self._ticks += 1  # a stale-heartbeat check (a write) every ~10 s is plenty
        items = core.list_runs(self.store, check_stale=self._ticks % 20 == 1)
        keep = self.selected
        table.clear()
        for r in items:
            progress = f"{r.step}/{r.total_steps}" if r.total_steps else str(r.step)
            best = f"{r.best_eval_loss:.4f}" if r.best_eval_loss is not None else "-"
            started = f"{r.started_at:%m-%d %H:%M}" if r.started_at else "-"
            table.add_row(str(r.id), r.status, r.base_model[:18], str(r.dataset_id), progress,
                          best, started, _duration(r.started_at, r.finished_at), key=str(r.id))
        if items:
            ids = [r.id for r in items]
            if keep not in ids:
                keep = ids[0]
            table.move_cursor(row=ids.index(keep), animate=False)
            self.selected = keep
            self.show_run(keep)
        self.show_host()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            new = int(event.row_key.value)
            if new != self.selected:
                self.selected = new
                self._last_plot_step = -1
                self.show_run(new)

    def show_run(self, run_id: int) -> None:
        run = core.get_run(self.store, run_id)
        elapsed = _duration(run.started_at, run.finished_at)
        eta = "-"
        if run.status == "running" and run.started_at and run.step and run.total_steps:
            spent = (utcnow() - run.started_at).total_seconds()
            rate = run.step / max(spent, 1e-6)
            left = int((run.total_steps - run.step) / rate) if rate else 0
            eta = f"{left // 60}m{left % 60:02d}s"
        tps = core.metric_series(self.store, run.id, "tokens_per_second")
        head = Text()
        head.append(f"run {run.id}  ", style="bold")
        head.append(run.status, style={"running": "green", "failed": "red", "paused": "yellow",
                                       "interrupted": "yellow", "completed": "bold green"}
                    .get(run.status, "dim"))
        head.append(f"   base {run.base_model} · dataset {run.dataset_id}\n")
        head.append(f"step {run.step}/{run.total_steps or '?'} · epoch {run.epoch:.2f} · elapsed "
                    f"{elapsed} · ETA {eta} · {tps[-1][1]:,.0f} tokens/s" if tps else
                    f"step {run.step}/{run.total_steps or '?'} · elapsed {elapsed}", style="dim")
        if run.best_eval_loss is not None:
            head.append(f" · best eval {run.best_eval_loss:.4f}", style="dim")
        if run.error:
            head.append(f"\n{run.error}", style="bold red")
        if run.adapter_dir:
            head.append(f"\nadapter: {run.adapter_dir}", style="cyan")
        self.query_one("#run-header", Static).update(head)
        bar = self.query_one("#run-progress", ProgressBar)
        bar.update(total=max(run.total_steps, 1), progress=run.step)
        if run.step != self._last_plot_step:  # redraw plots only when there is something new
            self._last_plot_step = run.step
            self.query_one(LossPlot).show(core.metric_series(self.store, run.id, "train_loss"),
                                          core.metric_series(self.store, run.id, "eval_loss"))
            self.query_one(LrPlot).show(core.metric_series(self.store, run.id, "learning_rate"))
        lines = Text()
        for e in core.events(self.store, run.id, limit=8):
            if e.level != "debug":
                lines.append(f"{e.created_at:%H:%M:%S} ", style="dim")
                lines.append(e.message + "\n", style="red" if e.level == "error" else "")
        tail = self.query_one("#log-tail", Static)
        tail.border_title = "log"
        tail.update(lines)

    def show_host(self) -> None:
        panel = self.query_one("#gpu", Static)
        panel.border_title = "GPU / host"
        text = Text()
        reason = no_gpu_reason()
        if reason:
            text.append(f"{reason}\n", style="yellow")
        for g in gpu_stats():
            na = lambda v, fmt: fmt.format(v) if v is not None else "n/a"  # noqa: E731
            text.append(f"GPU{g.index} {g.name}\n", style="bold")
            text.append(f" util {na(g.util_pct, '{:.0f}%')}  mem {na(g.mem_used_mb, '{:,.0f}')}/"
                        f"{na(g.mem_total_mb, '{:,.0f}')} MB  {na(g.temp_c, '{:.0f}')}°C  "
                        f"{na(g.power_w, '{:.0f}')}/{na(g.power_limit_w, '{:.0f}')} W  "
                        f"this app {na(g.this_process_mb, '{:,.0f}')} MB\n")
        h = host_stats()
        text.append(f"CPU {h.cpu_pct:.0f}%  RAM {h.ram_used_mb / 1024:.1f}/"
                    f"{h.ram_total_mb / 1024:.1f} GiB  this app {h.process_rss_mb:,.0f} MB")
        panel.update(text)

    # ------------------------------------------------------------ actions

    def _act(self, action, *args) -> None:
        if self.selected is None:
            self.app.notify("no run selected", severity="warning")
            return
        try:
            action(self.store, self.selected, *args)
        except FtuiError as err:
            self.app.notify(str(err), severity="error", timeout=8)
            return
        self.refresh_all()

    def action_cancel_run(self) -> None:
        self._act(core.request_cancel)

    def action_pause_run(self) -> None:
        if self.selected is None:
            return
        run = core.get_run(self.store, self.selected)
        self._act(core.request_pause, not run.pause_requested)

    def action_resume_run(self) -> None:
        def resume(store, run_id):
            core.resume_run(store, run_id)
            self.app.train_in_app(run_id)

        self._act(resume)

    def action_open_model(self) -> None:
        if self.selected is None:
            return
        run = core.get_run(self.store, self.selected)
        if not run.adapter_dir:
            self.app.notify(f"run {run.id} has no model yet ({run.status})", severity="warning")
            return
        from ftui.registry import list_models

        model = next((m for m in list_models(self.store) if m.run_id == run.id), None)
        where = (f"model {model.id} '{model.name}' ({model.stage}, slot {model.slot}); "
                 if model else "")
        self.app.notify(f"run {run.id}: {where}adapter in {run.adapter_dir}", timeout=10)

    def action_new_run(self) -> None:
        datasets = list_datasets(self.store)
        if not datasets:
            self.app.notify("no dataset yet: build one in Datasets (F2) first", severity="warning")
            return

        def start(answer) -> None:
            if answer is None:
                return
            dataset_id, base, config, detach = answer
            try:
                get_dataset(self.store, dataset_id)
                run = core.create_run(self.store, dataset_id, base, config)
            except FtuiError as err:
                self.app.notify(str(err), severity="error", timeout=8)
                return
            if detach:
                from ftui.train.trainer import run_dir
                from ftui.train.worker import spawn_detached

                pid = spawn_detached(self.app.settings.database_url, run.id,
                                     run_dir(self.app.settings.home, run.id) / "worker.log")
                self.app.notify(f"run {run.id} started in a background process (pid {pid})")
            else:
                self.app.train_in_app(run.id)
                self.app.notify(f"run {run.id} queued in this app")
            self.selected = run.id
            self.refresh_all()

        self.app.push_screen(NewRunDialog(datasets), start)
