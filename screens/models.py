"""Models: the registry table, a detail pane (lineage, metrics, history), and the actions:
promote/demote, evaluate, compare, merge, deploy to Ollama, delete, register from `ollama list`.
Slow actions run in a thread; their progress lines go to the activity pane; an evaluation shows
its progress with an ETA and stops on esc."""

from __future__ import annotations

import threading
import time

from ftui.screens.base import FtuiScreen
from ftui.screens.dialogs import ConfirmDialog, PickDialog, TextInputDialog
from ftui.screens.evaluate_dialog import CompareDialog, EvaluateDialog
from ftui.screens.promote_dialog import GatedPromotion
from ftui.widgets.detail import DetailPane
from ftui.widgets.footer import KeyFooter
from ftui.widgets.progress_line import ProgressLine
from ftui.widgets.section_bar import SectionBar
from ftui.widgets.table import RecordTable
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.widgets import DataTable, ProgressBar, RichLog, Static

from ftui import fmt, registry
from ftui.errors import FtuiError
from ftui.registry.lineage import lineage, lineage_lines

EVAL_KEYS = fmt.EVAL_KEYS  # the CLI lists the same figures, the same way
# the training run's best eval loss and the last evaluation's (`e`) loss: two figures, two
# columns (one column that switched from the first to the second after `e` misled)
COLUMNS = ("id", "name", "stage", "slot", "kind", "base", "best eval", "eval loss", "created")


class EvaluationCancelled(Exception):
    """Raised from the progress callback to stop an evaluation between two examples."""


figure_of = fmt.metric  # evaluation and training figures, as the CLI prints them


def deployed_line(model) -> str | None:
    summary = getattr(registry, "deployment_summary", None)  # the registry's own wording
    if summary is not None:
        return summary(model)
    d = model.metrics.get("deployed")
    if isinstance(d, dict) and d.get("ollama_name"):
        return f"in Ollama as {d['ollama_name']} ({d.get('mode', '?')})"
    return None


class ModelsScreen(FtuiScreen):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    DEFAULT_CSS = """
    ModelsScreen #models-main { height: 1fr; layout: horizontal; }
    ModelsScreen #models-side { width: 60%; border-right: solid $primary 50%; }
    ModelsScreen #model-table { height: 1fr; }
    ModelsScreen #eval-box { height: auto; display: none; }
    ModelsScreen #eval-box.-running { display: block; }
    ModelsScreen #model-activity { height: 7; border: round $primary 50%; }
    ModelsScreen #model-detail { width: 1fr; padding: 0 1; }
    /* 80x24: the table above (every column up to slot in view), the detail below */
    ModelsScreen.-narrow #models-main { layout: vertical; }
    ModelsScreen.-narrow #models-side { width: 100%; height: 11; border-right: none;
                                        border-bottom: solid $primary 50%; }
    ModelsScreen.-narrow #model-activity { height: 4; }
    ModelsScreen.-narrow #model-detail { height: 1fr; }
    """
    BINDINGS = [  # most used first: at 80 columns the footer ends where they stop fitting
        Binding("e", "evaluate", "Evaluate"),
        Binding("escape", "cancel_evaluation", "Stop eval"),
        Binding("p", "promote", "Promote", tooltip="Promote to production (the gate runs first)"),
        Binding("D", "deploy", "Deploy"),
        Binding("t", "playground", "Chat"),
        Binding("c", "compare", "Compare"),
        Binding("m", "mark", "Mark", tooltip="Mark as A for compare"),
        Binding("d", "demote", "Demote"),
        Binding("M", "merge", "Merge", show=False),
        Binding("i", "interactions", "Its data", show=False),
        Binding("o", "register_ollama", "Add Ollama model", show=False),
        Binding("a", "archive", "Archive", show=False),
        Binding("x", "delete", "Delete"),
        Binding("r", "reload", "Reload", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected: int | None = None
        self.marked: int | None = None
        self.evaluating: str | None = None  # the model name while an evaluation runs
        self._stop_eval = threading.Event()

    def compose(self) -> ComposeResult:
        yield SectionBar("models")
        with Container(id="models-main"):
            with Vertical(id="models-side"):
                yield RecordTable(*COLUMNS, id="model-table",
                                  empty_text="no models yet: a finished run (F3) registers one; "
                                             "o adds an Ollama model")
                with Vertical(id="eval-box"):
                    yield Static("", id="eval-status")
                    yield ProgressBar(id="eval-progress", show_eta=False)
                yield ProgressLine(id="promote-progress")
                yield RichLog(id="model-activity", wrap=True, markup=False)
            with DetailPane(id="model-detail"):
                yield Static("no models yet: a finished training run (F3) registers its "
                             "adapter; o adds a model from Ollama", id="model-info")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#model-activity", RichLog).border_title = "activity"
        self.promotion = GatedPromotion(self, self.query_one("#promote-progress", ProgressLine),
                                        self.log_line)
        self.refresh_table()
        self.query_one("#model-table").focus()

    def on_screen_resume(self) -> None:
        self.refresh_table()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "cancel_evaluation":
            return self.evaluating is not None  # esc (and its footer entry) only while running
        return True

    # ------------------------------------------------------------ view

    def refresh_table(self) -> None:
        table = self.query_one("#model-table", RecordTable)
        items = registry.list_models(self.store)
        rows = []
        for m in items:
            mark = "▶ " if m.id == self.marked else ""
            rows.append((m.id, (str(m.id), mark + m.name[:26], m.stage, m.slot[:14], m.kind,
                                (m.base_model or m.ollama_name or "-")[:18],
                                figure_of("loss", m.metrics.get("best_eval_loss")),
                                figure_of("loss", m.metrics.get("eval_loss")),
                                f"{m.created_at:%m-%d %H:%M}")))
        self.selected = table.show_rows(rows, keep=self.selected)
        if self.selected is not None:
            self.show_model(self.selected)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = self.query_one("#model-table", RecordTable).key_of(event.row_key)
        if key is not None and key != self.selected:
            self.selected = key
            self.show_model(key)

    def show_model(self, model_id: int) -> None:
        try:
            m = registry.get_model(self.store, model_id)
        except FtuiError:
            return
        text = Text()
        text.append(f"{m.name}\n", style="bold")
        text.append(f"{m.kind} · {m.stage} · slot {m.slot}", style="cyan")
        text.append("\n")
        deployed = deployed_line(m)
        if deployed:
            text.append(f"{deployed}\n", style="green")
        elif m.ollama_name:
            text.append(f"in Ollama as {m.ollama_name}\n", style="green")
        if m.path:
            text.append(f"{m.path}\n", style="dim")
        text.append("\nlineage\n", style="bold")
        for line in lineage_lines(lineage(self.store, m.id)):
            text.append(line + "\n")
        metrics = {k: v for k, v in m.metrics.items()
                   if k not in ("eval", "deployed") and not isinstance(v, dict | list)}
        if metrics:
            text.append("\ntraining\n", style="bold")
            width = max(22, *(len(k) for k in metrics))  # DPO's names are longer
            for k, v in metrics.items():
                text.append(f"  {k.replace('_', ' '):<{width}} {figure_of(k, v)}\n")
        ev = m.metrics.get("eval")
        if isinstance(ev, dict):
            text.append(f"\nevaluation (dataset {ev.get('dataset_id')} {ev.get('split')}, "
                        f"{ev.get('examples')} examples)\n", style="bold")
            for k in EVAL_KEYS:
                text.append(f"  {k.replace('_', ' '):<22} {figure_of(k, ev.get(k))}\n")
            from ftui.judge.evaluation import judge_lines

            for line in judge_lines(ev):  # the judge's opinion, apart from the figures
                text.append(line + "\n", style="magenta")
        pe = m.metrics.get("eval_preference")  # on a preference version: no answers, no loss
        if isinstance(pe, dict) and pe.get("preference_accuracy") is not None:
            low, high = pe.get("ci95") or (None, None)
            text.append(f"\npreference evaluation (dataset {pe.get('dataset_id')} "
                        f"{pe.get('split')}, {pe.get('pairs')} pairs)\n", style="bold")
            text.append(f"  {'preference accuracy':<22} {pe['preference_accuracy']:.3f}"
                        + (f" [{low:.3f}, {high:.3f}]" if low is not None else "") + "\n")
            text.append(f"  {'mean margin':<22} {pe.get('mean_margin', 0):+.4f} nats/token "
                        "(chosen - rejected)\n")
        params = m.params
        if params:
            shown = ", ".join(f"{k}={fmt.figure(params[k])}" for k in (
                "learning_rate", "lora_r", "epochs", "max_steps") if k in params)
            text.append(f"\nhyper-parameters: {shown}\n", style="dim")
        text.append("\nhistory\n", style="bold")
        for e in registry.history(self.store, m.id)[-8:]:
            text.append(f"  {e.created_at:%m-%d %H:%M} {e.action} "
                        f"{(e.from_stage or '') + ' -> ' if e.from_stage else ''}"
                        f"{e.to_stage or ''} {e.slot or ''}" + (f" ({e.note})" if e.note else "")
                        + "\n", style="dim")
        self.query_one("#model-info", Static).update(text)

    def log_line(self, line: str) -> None:
        self.query_one("#model-activity", RichLog).write(line)

    # ------------------------------------------------------------ actions

    def _model(self):
        if self.selected is None:
            self.say("no model selected", severity="warning")
            return None
        return registry.get_model(self.store, self.selected)

    def _try(self, fn, *args, **kwargs):
        return self.attempt(fn, *args, refresh=self.refresh_table, **kwargs)

    def action_reload(self) -> None:
        self.refresh_table()

    def action_promote(self) -> None:
        m = self._model()
        if m is None:
            return
        current = registry.production_model(self.store, m.slot)
        hint = (f"{current.name} is production there now; it goes back to staging"
                if current and current.id != m.id else "a mode, a domain, or general")

        if self.promotion.running:
            self.say(f"{self.promotion.what}: still running, wait for it", severity="warning")
            return

        def done(slot: str | None) -> None:
            if not (slot and slot.strip()):
                return
            now = registry.production_model(self.store, slot.strip())
            if now is not None and now.id == m.id:  # no gate run, no history line for nothing
                self.say(f"{m.name} is already production in {slot.strip()}")
                return
            self._promote(m.id, m.name, slot.strip())

        self.app.push_screen(TextInputDialog(f"Promote {m.name} to production in slot:", m.slot,
                                             hint + "; the regression gate runs first",
                                             enter="promotes"), done)

    def _promote(self, model_id: int, name: str, slot: str) -> None:
        """Through the regression gate, in a worker thread (the gate takes minutes on a real
        model); a refusal offers to force it with a reason."""
        def promote(force, gate, on_line):
            return registry.promote(
                self.store, model_id, slot, "promoted on the Models screen",
                home=self.settings.home, host=self.settings.ollama_host, force=force, gate=gate,
                settings_extra=self.settings.current_extra(), on_line=on_line)  # edits apply

        def promoted(out) -> None:
            model, gate = out
            verdict = ("gate passed" if gate and gate["passed"] else
                       "gate could not run" if gate is None else "gate failed, forced")
            self.log_line(f"{model.name} is production in {model.slot} ({verdict})")
            self.say(f"{model.name} is production in {model.slot} ({verdict})")
            self.refresh_table()

        self.promotion.start(f"promote {name} to production in {slot}", promote, promoted)

    def action_demote(self) -> None:
        m = self._model()
        if m is not None:
            lower = {"production": "staging", "staging": "candidate"}.get(m.stage, m.stage)
            self._try(registry.set_stage, self.store, m.id, lower, None,
                      "demoted on the Models screen")

    def action_archive(self) -> None:
        m = self._model()
        if m is None:
            return

        def done(yes: bool) -> None:
            if yes:
                self._try(registry.set_stage, self.store, m.id, "archived", None,
                          "archived on the Models screen")

        self.app.push_screen(ConfirmDialog(
            f"Archive {m.name}? It leaves its slot ({m.slot}, {m.stage}); files stay.",
            yes="Archive"), done)

    def action_delete(self) -> None:
        m = self._model()
        if m is None:
            return

        def done(yes: bool) -> None:
            if yes:
                self._try(registry.delete_model, self.store, m.id, False)
                self.say(f"forgot {m.name}; its files are kept"
                                + (f" in {m.path}" if m.path else ""))

        self.app.push_screen(ConfirmDialog(
            f"Forget model {m.name} ({m.kind}, {m.stage})?\n\nIts files stay on disk "
            "(ftui models delete --remove-files removes them).", yes="Forget it"), done)

    def action_mark(self) -> None:
        m = self._model()
        if m is not None:
            self.marked = None if self.marked == m.id else m.id
            self.say(f"{m.name} marked as A: select another model and press c"
                            if self.marked else "mark cleared")
            self.refresh_table()

    def action_compare(self) -> None:
        from ftui.registry.evaluate import compare

        m = self._model()
        if m is None:
            return
        if self.marked is None or self.marked == m.id:
            self.say("mark a model with m first, then select the other and press c",
                            severity="warning")
            return
        result = self._try(compare, self.store, self.marked, m.id)
        if result is None:
            return
        a, b = result["a"]["name"], result["b"]["name"]
        lines = [f"A {a}", f"B {b}", "", f"{'':<16}{'A':>12}{'B':>12}  better"]
        for r in result["rows"]:
            lines.append(f"{r['metric'].replace('_', ' '):<16}"
                         f"{figure_of(r['metric'], r['a']):>12}"
                         f"{figure_of(r['metric'], r['b']):>12}  {r['better'] or ''}")
        if not result["same_data"]:
            lines.append("\nevaluated on different data: the figures do not compare")
        from ftui.judge.evaluation import compare_judge_lines

        ea = registry.get_model(self.store, self.marked).metrics.get("eval") or {}
        lines += [*compare_judge_lines(result), "", "j: judge A against B pairwise"]
        self.app.push_screen(CompareDialog("\n".join(lines), self.marked, m.id,
                                           ea.get("dataset_id"), ea.get("split")))

    def action_interactions(self) -> None:
        m = self._model()
        if m is None:
            return
        if m.dataset_id is None:
            self.say(f"{m.name} has no dataset recorded", severity="warning")
            return
        from ftui.store.interactions import InteractionFilter

        self.app.show_interactions(InteractionFilter(dataset_id=m.dataset_id))

    def action_playground(self) -> None:
        m = self._model()
        if m is not None:
            self.app.open_playground(str(m.id))

    # ------------------------------------------------------------ slow actions (threads)

    def action_evaluate(self) -> None:
        from ftui.curate import list_datasets

        m = self._model()
        if m is None:
            return
        if self.evaluating is not None:
            self.say(f"{self.evaluating} is being evaluated: esc stops it", severity="warning")
            return
        datasets = list_datasets(self.store)
        if not datasets:
            self.say("no dataset to evaluate on: build one in Datasets (F2)", severity="warning")
            return

        def start(answer: dict | None) -> None:
            if answer is not None:
                self._start_evaluation(m.id, m.name, answer)

        self.app.push_screen(EvaluateDialog(m.name, datasets, m.dataset_id), start)

    def _start_evaluation(self, model_id: int, name: str, answer: dict) -> None:
        self.evaluating = name
        self._stop_eval.clear()
        self.query_one("#eval-box").set_class(True, "-running")
        self._eval_progress(0, answer["limit"], time.monotonic(), "loading the model…")
        self.refresh_bindings()
        self.log_line(f"evaluating {name} on dataset {answer['dataset_id']} "
                      f"({answer['split'] or 'held-out'}, up to {answer['limit']} examples)…")
        self._evaluate(model_id, name, answer)

    def _eval_progress(self, done: int, total: int, started: float, note: str = "") -> None:
        if self.evaluating is None:
            return
        left = fmt.eta(done, total, time.monotonic() - started)
        stopping = self._stop_eval.is_set()
        status = Text(f"evaluating {self.evaluating}: {done}/{total} answered · ETA {left}",
                      style="bold")
        status.append(" · cancelling…" if stopping else f" · esc stops {note}",
                      style="yellow" if stopping else "dim")
        self.query_one("#eval-status", Static).update(status)
        self.query_one("#eval-progress", ProgressBar).update(total=max(total, 1), progress=done)

    def action_cancel_evaluation(self) -> None:
        if self.evaluating is None:
            return
        self._stop_eval.set()
        self.query_one("#eval-status", Static).update(Text(
            f"evaluating {self.evaluating}: cancelling after the current answer…",
            style="bold yellow"))
        self.log_line(f"{self.evaluating}: cancel asked")

    def _evaluation_ended(self, line: str) -> None:
        self.evaluating = None
        self.query_one("#eval-box").set_class(False, "-running")
        self.refresh_bindings()
        self.log_line(line)
        self.refresh_table()

    @work(thread=True, group="models-eval")
    def _evaluate(self, model_id: int, name: str, answer: dict) -> None:
        from ftui.registry.evaluate import evaluate

        started = time.monotonic()
        stage = ["answers"]  # "judge" once the judge scores the answers (issue 13)

        def progress(i: int, n: int) -> None:
            self._from_thread(self._eval_progress, i, n, started,
                              "· now the judge scores them" if stage[0] == "judge" else "")
            if self._stop_eval.is_set():
                raise EvaluationCancelled

        try:
            ev = evaluate(self.store, model_id, home=self.settings.home,
                          host=self.settings.ollama_host, dataset_id=answer["dataset_id"],
                          split=answer["split"], limit=answer["limit"],
                          max_new_tokens=answer["max_new_tokens"], on_progress=progress,
                          judge=answer.get("judge"), rubric=answer.get("rubric"),
                          on_update=lambda p: stage.__setitem__(0, p.stage))
            took = fmt.duration(time.monotonic() - started)
            if "preference_accuracy" in ev:  # a preference version: no answers, no loss
                low, high = ev.get("ci95") or (None, None)
                line = (f"{name}: preference accuracy {ev['preference_accuracy']:.3f}"
                        + (f" [{low:.3f}, {high:.3f}]" if low is not None else "")
                        + f", margin {ev['mean_margin']:+.4f} ({ev['pairs']} pairs, {took})")
            else:
                line = (f"{name}: loss {figure_of('loss', ev['loss'])}, ROUGE-L "
                        f"{figure_of('rouge_l', ev['rouge_l'])}, p50 "
                        f"{figure_of('latency_ms_p50', ev['latency_ms_p50'])} "
                        f"({ev['examples']} examples, {took})")
        except EvaluationCancelled:
            line = f"{name}: evaluation cancelled; nothing was stored"
        except FtuiError as err:
            line = f"{name}: {err}"
        except Exception as err:  # noqa: BLE001 - logged with its traceback, said in one line
            from ftui.logs import log_exception

            log_exception(f"evaluating {name}", err)
            line = f"{name}: unexpected error {type(err).__name__}: {err}"
        self._from_thread(self._evaluation_ended, line)

    def action_merge(self) -> None:
        m = self._model()
        if m is None:
            return
        if m.kind != "adapter":
            self.say(f"{m.name} is {m.kind}: only adapters merge", severity="warning")
            return
        self.log_line(f"merging {m.name} into {m.base_model}…")
        self._merge(m.id)

    @work(thread=True, group="models")
    def _merge(self, model_id: int) -> None:
        from ftui.registry.merge import merge_adapter

        try:
            merged = merge_adapter(self.store, model_id, home=self.settings.home)
            line = f"merged: model {merged.id} {merged.name} in {merged.path}"
        except Exception as err:  # noqa: BLE001 - reported in the activity pane
            line = str(err)
        self.app.call_from_thread(self.log_line, line)
        self.app.call_from_thread(self.refresh_table)

    def action_deploy(self) -> None:
        from ftui.registry.merge import slug

        m = self._model()
        if m is None:
            return

        def with_name(name: str | None) -> None:
            if not name:
                return
            if m.kind == "adapter" and m.base_model != "demo":
                self.app.push_screen(TextInputDialog(
                    f"The base {m.base_model!r} as Ollama names it:", "",
                    "the same model the adapter was trained on, e.g. llama3.2:3b",
                    enter="deploys"),
                    lambda base: self._deploy(m.id, name.strip(), base.strip())
                    if base else None)
            else:
                self._deploy(m.id, name.strip(), None)

        self.app.push_screen(TextInputDialog(
            f"Deploy {m.name} to Ollama at {self.settings.ollama_host} as:",
            m.ollama_name or f"ftui-{slug(m.name)}",
            "adapters go on their base; merged models are uploaded whole",
            enter="deploys"), with_name)

    @work(thread=True, group="models")
    def _deploy(self, model_id: int, name: str, base: str | None) -> None:
        from ftui.registry.deploy import deploy

        # the first and the result line at the margin, deploy's progress lines under them
        log = lambda line: self.app.call_from_thread(self.log_line, line)  # noqa: E731
        model_name = registry.get_model(self.store, model_id).name
        log(f"deploying {model_name} as {name}…")
        try:
            out = deploy(self.store, model_id, home=self.settings.home,
                         host=self.settings.ollama_host, name=name, ollama_base=base,
                         on_line=lambda line: log(f"  {line}"))
            done = f"deployed as {out['ollama_name']}; smoke answer: {out['smoke_reply']!r}"
            log(done)
            self._from_thread(self.say, done)
        except Exception as err:  # noqa: BLE001 - in the activity pane; unexpected ones logged
            log(str(err))
            self._from_thread(self.notify_error, err, "deploying from the Models screen")
        self.app.call_from_thread(self.refresh_table)

    def action_register_ollama(self) -> None:
        self.log_line(f"asking {self.settings.ollama_host} for its models…")
        self._list_ollama()

    @work(thread=True, group="models")
    def _list_ollama(self) -> None:
        from ftui.inference import ollama_models

        try:
            names = ollama_models(self.settings.ollama_host)
        except FtuiError as err:
            self.app.call_from_thread(self.log_line, str(err))
            self._from_thread(self.notify_error, err)
            return
        known = {m.ollama_name for m in registry.list_models(self.store)}
        options = [(n, n) for n in names if n not in known]
        if not options:
            self.app.call_from_thread(self.log_line, "every Ollama model is registered already")
            return
        self.app.call_from_thread(self.app.push_screen, PickDialog(
            "Register which Ollama model? (enter)", options), self._register_ollama)

    def _register_ollama(self, name: str | None) -> None:
        if name:
            model = self._try(registry.register, self.store, kind="ollama", name=name,
                              ollama_name=name, notes="registered from ollama list")
            if model is not None:
                self.selected = model.id
                self.refresh_table()
