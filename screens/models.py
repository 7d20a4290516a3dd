"""Models: the registry table, a detail pane (lineage, metrics, history), and the actions:
promote/demote, evaluate, compare, merge, deploy to Ollama, delete, register from `ollama list`.
Slow actions run in a thread; their progress lines go to the activity pane."""

from __future__ import annotations

from ftui.screens.common import attempt
from ftui.screens.dialogs import ConfirmDialog, PickDialog, TextDialog, TextInputDialog
from ftui.widgets.section_bar import SectionBar
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, RichLog, Static

from ftui import registry
from ftui.errors import FtuiError
from ftui.registry.lineage import lineage, lineage_lines

EVAL_KEYS = ("loss", "perplexity", "rouge_l", "exact_match", "contains_match", "answer_words",
             "latency_ms_p50", "tokens_per_s")


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class ModelsScreen(Screen):
    BINDINGS = [
        Binding("p", "promote", "Promote"),
        Binding("d", "demote", "Demote"),
        Binding("e", "evaluate", "Evaluate"),
        Binding("m", "mark", "Mark A"),
        Binding("c", "compare", "Compare"),
        Binding("M", "merge", "Merge"),
        Binding("D", "deploy", "Deploy"),
        Binding("g", "playground", "Chat"),
        Binding("i", "interactions", "Its data"),
        Binding("o", "register_ollama", "Add Ollama model"),
        Binding("a", "archive", "Archive", show=False),
        Binding("x", "delete", "Delete"),
        Binding("r", "reload", "Reload", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected: int | None = None
        self.marked: int | None = None

    @property
    def store(self):
        return self.app.store

    @property
    def settings(self):
        return self.app.settings

    def compose(self) -> ComposeResult:
        yield SectionBar("models")
        with Horizontal(id="models-body"):
            with Vertical(id="models-left"):
                yield DataTable(id="models", cursor_type="row")
                yield RichLog(id="activity", wrap=True, markup=False)
            with VerticalScroll(id="model-detail"):
                yield Static("no models yet: a finished training run (F3) registers its "
                             "adapter; o adds a model from Ollama", id="model-info")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#models", DataTable)
        table.add_columns("id", "name", "kind", "stage", "slot", "base", "eval loss", "created")
        self.query_one("#activity", RichLog).border_title = "activity"
        self.refresh_table()
        table.focus()

    def on_screen_resume(self) -> None:
        self.refresh_table()

    # ------------------------------------------------------------ view

    def refresh_table(self) -> None:
        table = self.query_one("#models", DataTable)
        items = registry.list_models(self.store)
        table.clear()
        for m in items:
            loss = m.metrics.get("eval_loss", m.metrics.get("best_eval_loss"))
            mark = "▶ " if m.id == self.marked else ""
            table.add_row(str(m.id), mark + m.name[:30], m.kind, m.stage, m.slot,
                          (m.base_model or m.ollama_name or "-")[:18], _fmt(loss),
                          f"{m.created_at:%m-%d %H:%M}", key=str(m.id))
        ids = [m.id for m in items]
        if not ids:
            self.selected = None
            return
        if self.selected not in ids:
            self.selected = ids[0]
        table.move_cursor(row=ids.index(self.selected), animate=False)
        self.show_model(self.selected)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self.selected = int(event.row_key.value)
            self.show_model(self.selected)

    def show_model(self, model_id: int) -> None:
        try:
            m = registry.get_model(self.store, model_id)
        except FtuiError:
            return
        text = Text()
        text.append(f"{m.name}\n", style="bold")
        text.append(f"{m.kind} · {m.stage} · slot {m.slot}", style="cyan")
        if m.ollama_name:
            text.append(f" · in Ollama as {m.ollama_name}", style="green")
        text.append("\n")
        if m.path:
            text.append(f"{m.path}\n", style="dim")
        text.append("\nlineage\n", style="bold")
        for line in lineage_lines(lineage(self.store, m.id)):
            text.append(line + "\n")
        metrics = {k: v for k, v in m.metrics.items() if k != "eval"}
        if metrics:
            text.append("\ntraining\n", style="bold")
            for k, v in metrics.items():
                text.append(f"  {k.replace('_', ' '):<22} {_fmt(v)}\n")
        ev = m.metrics.get("eval")
        if ev:
            text.append(f"\nevaluation (dataset {ev['dataset_id']} {ev['split']}, "
                        f"{ev['examples']} examples)\n", style="bold")
            for k in EVAL_KEYS:
                text.append(f"  {k.replace('_', ' '):<22} {_fmt(ev.get(k))}\n")
        params = m.params
        if params:
            shown = ", ".join(f"{k}={params[k]}" for k in ("learning_rate", "lora_r", "epochs",
                                                            "max_steps") if k in params)
            text.append(f"\nhyper-parameters: {shown}\n", style="dim")
        text.append("\nhistory\n", style="bold")
        for e in registry.history(self.store, m.id)[-8:]:
            text.append(f"  {e.created_at:%m-%d %H:%M} {e.action} "
                        f"{(e.from_stage or '') + ' -> ' if e.from_stage else ''}"
                        f"{e.to_stage or ''} {e.slot or ''}" + (f" ({e.note})" if e.note else "")
                        + "\n", style="dim")
        self.query_one("#model-info", Static).update(text)

    def log_line(self, line: str) -> None:
        self.query_one("#activity", RichLog).write(line)

    # ------------------------------------------------------------ actions

    def _model(self):
        if self.selected is None:
            self.app.notify("no model selected", severity="warning")
            return None
        return registry.get_model(self.store, self.selected)

    def _try(self, fn, *args, **kwargs):
        return attempt(self, fn, *args, refresh=self.refresh_table, **kwargs)

    def action_reload(self) -> None:
        self.refresh_table()

    def action_promote(self) -> None:
        m = self._model()
        if m is None:
            return
        current = registry.production_model(self.store, m.slot)
        hint = (f"{current.name} is production there now; it goes back to staging"
                if current and current.id != m.id else "a mode, a domain, or general")

        def done(slot: str | None) -> None:
            if slot:
                self._try(registry.set_stage, self.store, m.id, "production", slot.strip(),
                          "promoted on the Models screen")

        self.app.push_screen(TextInputDialog(f"Promote {m.name} to production in slot:", m.slot,
                                             hint), done)

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
                self.app.notify(f"forgot {m.name}; its files are kept"
                                + (f" in {m.path}" if m.path else ""))

        self.app.push_screen(ConfirmDialog(
            f"Forget model {m.name} ({m.kind}, {m.stage})?\n\nIts files stay on disk "
            "(ftui models delete --remove-files removes them).", yes="Forget it"), done)

    def action_mark(self) -> None:
        m = self._model()
        if m is not None:
            self.marked = None if self.marked == m.id else m.id
            self.app.notify(f"{m.name} marked as A: select another model and press c"
                            if self.marked else "mark cleared")
            self.refresh_table()

    def action_compare(self) -> None:
        from ftui.registry.evaluate import compare

        m = self._model()
        if m is None:
            return
        if self.marked is None or self.marked == m.id:
            self.app.notify("mark a model with m first, then select the other and press c",
                            severity="warning")
            return
        result = self._try(compare, self.store, self.marked, m.id)
        if result is None:
            return
        a, b = result["a"]["name"], result["b"]["name"]
        lines = [f"A {a}", f"B {b}", "", f"{'':<16}{'A':>12}{'B':>12}  better"]
        for r in result["rows"]:
            lines.append(f"{r['metric'].replace('_', ' '):<16}{_fmt(r['a']):>12}"
                         f"{_fmt(r['b']):>12}  {r['better'] or ''}")
        if not result["same_data"]:
            lines.append("\nevaluated on different data: the figures do not compare")
        self.app.push_screen(TextDialog("Compare (esc closes)", "\n".join(lines)))

    def action_interactions(self) -> None:
        m = self._model()
        if m is None:
            return
        if m.dataset_id is None:
            self.app.notify(f"{m.name} has no dataset recorded", severity="warning")
            return
        from ftui.store.interactions import InteractionFilter

        self.app.show_interactions(InteractionFilter(dataset_id=m.dataset_id))

    def action_playground(self) -> None:
        m = self._model()
        if m is not None:
            self.app.open_playground(str(m.id))

    # ------------------------------------------------------------ slow actions (threads)

    def action_evaluate(self) -> None:
        m = self._model()
        if m is not None:
            self.log_line(f"evaluating {m.name} (20 held-out examples)…")
            self._evaluate(m.id, m.name)

    @work(thread=True, group="models", exclusive=False)
    def _evaluate(self, model_id: int, name: str) -> None:
        from ftui.registry.evaluate import evaluate

        def progress(i: int, n: int) -> None:
            self.app.call_from_thread(self.log_line, f"  {name}: {i}/{n} answered")

        try:
            ev = evaluate(self.store, model_id, home=self.settings.home,
                          host=self.settings.ollama_host, on_progress=progress)
            line = (f"{name}: loss {_fmt(ev['loss'])}, ROUGE-L {_fmt(ev['rouge_l'])}, "
                    f"p50 {_fmt(ev['latency_ms_p50'])} ms")
        except Exception as err:  # noqa: BLE001 - reported in the activity pane
            line = f"{name}: {err}"
        self.app.call_from_thread(self.log_line, line)
        self.app.call_from_thread(self.refresh_table)

    def action_merge(self) -> None:
        m = self._model()
        if m is None:
            return
        if m.kind != "adapter":
            self.app.notify(f"{m.name} is {m.kind}: only adapters merge", severity="warning")
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
                    "the same model the adapter was trained on, e.g. llama3.2:3b"),
                    lambda base: self._deploy(m.id, name.strip(), base.strip())
                    if base else None)
            else:
                self._deploy(m.id, name.strip(), None)

        self.app.push_screen(TextInputDialog(
            f"Deploy {m.name} to Ollama at {self.settings.ollama_host} as:",
            m.ollama_name or f"ftui-{slug(m.name)}",
            "adapters go on their base; merged models are uploaded whole"), with_name)

    @work(thread=True, group="models")
    def _deploy(self, model_id: int, name: str, base: str | None) -> None:
        from ftui.registry.deploy import deploy

        say = lambda line: self.app.call_from_thread(self.log_line, f"  {line}")  # noqa: E731
        say(f"deploying as {name}…")
        try:
            out = deploy(self.store, model_id, home=self.settings.home,
                         host=self.settings.ollama_host, name=name, ollama_base=base,
                         on_line=say)
            self.app.call_from_thread(self.app.notify, f"deployed as {out['ollama_name']}; "
                                      f"smoke answer: {out['smoke_reply']!r}", timeout=12)
        except Exception as err:  # noqa: BLE001 - reported in the activity pane
            say(str(err))
            self.app.call_from_thread(self.app.notify, str(err), severity="error", timeout=12)
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
            self.app.call_from_thread(self.app.notify, str(err), severity="error", timeout=10)
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
