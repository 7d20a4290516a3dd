"""Experiments: the list, and per experiment the figures per arm, the curves, a verdict in plain
words, and keys to start/stop, run the arena, and promote the winner."""

from __future__ import annotations

from ftui.screens.common import attempt
from ftui.screens.dialogs import ConfirmDialog
from ftui.widgets.ab_plots import RatingPlot, WinRatePlot
from ftui.widgets.section_bar import SectionBar
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Label, Static

from ftui import ab
from ftui.ab.report import cumulative, promote_winner, report

REFRESH_S = 2.0
FIELDS = (("name", "name", ""), ("alias", "alias the chat app asks for", "assistant"),
          ("a", "model A (registry or Ollama)", ""), ("b", "model B", ""),
          ("split", "B's share", "0.5"), ("min_samples", "min rated per arm", "100"))


def _fmt(v, spec=".3g") -> str:
    return "-" if v is None else format(v, spec) if isinstance(v, float) else str(v)


class NewExperimentDialog(ModalScreen[dict | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"),
                Binding("ctrl+s", "save", "Create", priority=True)]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="new-exp"):
            yield Label("New experiment — ctrl+s creates (as a draft), esc cancels",
                        classes="dialog-title")
            for key, label, value in FIELDS:
                with Horizontal(classes="form-row"):
                    yield Label(label, classes="form-label")
                    yield Input(value, id=f"x_{key}", compact=True)
            yield Static("", id="exp-error", classes="dialog-error")

    def action_save(self) -> None:
        values = {k: self.query_one(f"#x_{k}", Input).value.strip() for k, _, _ in FIELDS}
        try:
            values["split"] = float(values["split"])
            values["min_samples"] = int(values["min_samples"])
        except ValueError:
            self.query_one("#exp-error", Static).update("split is a number (0.5), min samples "
                                                        "a whole number")
            return
        self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExperimentsScreen(Screen):
    BINDINGS = [
        Binding("n", "new", "New"),
        Binding("s", "start_stop", "Start/stop"),
        Binding("v", "arena", "Arena"),
        Binding("P", "promote", "Promote winner"),
        Binding("r", "reload", "Reload", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected: int | None = None

    @property
    def store(self):
        return self.app.store

    def compose(self) -> ComposeResult:
        yield SectionBar("experiments")
        with Horizontal(id="exp-body"):
            yield DataTable(id="experiments", cursor_type="row")
            with Vertical(id="exp-view"):
                yield Static("no experiments yet: n creates one (two models, an alias the chat "
                             "app asks for, a split)", id="verdict")
                yield Static("", id="exp-figures")
                with Horizontal(id="exp-plots"):
                    yield RatingPlot(id="rating-plot")
                    yield WinRatePlot(id="win-plot")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#experiments", DataTable).add_columns("id", "name", "status", "alias",
                                                             "B share")
        self.refresh_all()
        self.set_interval(REFRESH_S, self.refresh_all)
        self.query_one("#experiments").focus()

    def on_screen_resume(self) -> None:
        self.refresh_all()

    def refresh_all(self) -> None:
        table = self.query_one("#experiments", DataTable)
        items = ab.list_experiments(self.store)
        table.clear()
        for e in items:
            table.add_row(str(e.id), e.name[:22], e.status, e.alias[:14], f"{e.split_b:.0%}",
                          key=str(e.id))
        if not items:
            return
        ids = [e.id for e in items]
        if self.selected not in ids:
            self.selected = ids[0]
        table.move_cursor(row=ids.index(self.selected), animate=False)
        self.show(self.selected)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            new = int(event.row_key.value)
            if new != self.selected:
                self.selected = new
                self.show(new)

    def show(self, exp_id: int) -> None:
        r = report(self.store, exp_id)
        e = r["experiment"]
        verdict = Text()
        verdict.append(f"{e['name']}  ", style="bold")
        verdict.append(e["status"], style={"running": "green", "stopped": "dim"}.get(
            e["status"], "yellow"))
        verdict.append(f"   alias {e['alias']} · B share {e['split_b']:.0%} · metric "
                       f"{e['primary_metric']}\n", style="dim")
        verdict.append(r["verdict"], style="bold " + ("green" if r["winner"] else "yellow"))
        self.query_one("#verdict", Static).update(verdict)
        table = Table(box=None, pad_edge=False, expand=False)
        a, b = r["arms"]["A"], r["arms"]["B"]
        table.add_column("")
        table.add_column(f"A {a['model'][:24]}", justify="right")
        table.add_column(f"B {b['model'][:24]}", justify="right")
        for key in ("units", "interactions", "rated", "mean_rating", "latency_ms_p50",
                    "latency_ms_p95", "tokens_per_s", "fallbacks"):
            table.add_row(key.replace("_", " "), _fmt(a[key]), _fmt(b[key]))
        table.add_row("95% interval", *(f"[{_fmt(x['ci95'][0])}, {_fmt(x['ci95'][1])}]"
                                        if x["ci95"] else "-" for x in (a, b)))
        table.add_row("ratings 1..5", *(" ".join(str(x["ratings"][str(k)]) for k in range(1, 6))
                                        for x in (a, b)))
        lines = Text()
        if r["diff_mean_rating"] is not None:
            lo, hi = r["diff_ci95"]
            lines.append(f"B - A {r['diff_mean_rating']:+.2f} stars [{lo:+.2f}, {hi:+.2f}], "
                         f"Welch p = {_fmt(r['p_value'])}\n")
        lines.append(f"sample ratio check p = {_fmt(r['srm_p_value'])}"
                     + ("  MISMATCH\n" if r["srm_flag"] else "\n"),
                     style="bold red" if r["srm_flag"] else "")
        ar = r["arena"]
        if ar["votes"]:
            lines.append(f"arena: {ar['votes']} votes · B wins {ar['b_wins']}/{ar['decisive']}"
                         f" ({_fmt(ar['b_win_rate'], '.0%')}) p = {_fmt(ar['p_value'])} · ties "
                         f"{ar['ties']} · both bad {ar['both_bad']} · left side wins "
                         f"{_fmt(ar['left_win_rate'], '.0%')}\n")
        ranked = self._ranking()
        if len(ranked) > 2:  # more than two models met in the arena: rank them all
            lines.append("arena ranking (Bradley-Terry, 95%): " + ", ".join(
                f"{r['model']} {r['strength']:.2f} [{r['ci95'][0]:.2f}, {r['ci95'][1]:.2f}]"
                for r in ranked) + "\n")
        from rich.console import Group

        self.query_one("#exp-figures", Static).update(Group(table, lines))
        curves = cumulative(self.store, exp_id)
        self.query_one(RatingPlot).show(curves["A"], curves["B"])
        self.query_one(WinRatePlot).show(curves["win_rate"])

    def _ranking(self) -> list[dict]:
        """Bradley-Terry over every vote; recomputed only when the vote count changes."""
        from sqlalchemy import func
        from sqlmodel import select

        from ftui.ab.arena import ranking
        from ftui.store import ArenaVote

        with self.store.session() as s:
            n = s.exec(select(func.count()).select_from(ArenaVote)).one()
        if getattr(self, "_ranked_at", None) != n:
            self._ranked_at, self._ranked = n, ranking(self.store, rounds=100) if n else []
        return self._ranked

    # ------------------------------------------------------------ actions

    def _try(self, fn, *args, **kwargs):
        return attempt(self, fn, *args, refresh=self.refresh_all, **kwargs)

    def action_reload(self) -> None:
        self.refresh_all()

    def action_new(self) -> None:
        def done(values: dict | None) -> None:
            if values:
                e = self._try(ab.create_experiment, self.store, name=values["name"],
                              alias=values["alias"], model_a=values["a"], model_b=values["b"],
                              split_b=values["split"], min_samples=values["min_samples"])
                if e is not None:
                    self.selected = e.id
                    self.refresh_all()
                    self.app.notify(f"{e.name} created as a draft: s starts it")

        self.app.push_screen(NewExperimentDialog(), done)

    def action_start_stop(self) -> None:
        if self.selected is None:
            return
        from ftui.ab.experiments import gateway_warnings

        e = ab.get_experiment(self.store, self.selected)
        done = self._try(ab.set_status, self.store, e.id,
                         "stopped" if e.status == "running" else "running")
        if done is not None and done.status == "running":
            for note in gateway_warnings(self.store, done):
                self.app.notify(note, severity="warning", timeout=10)

    def action_arena(self) -> None:
        if self.selected is None:
            self.app.notify("create an experiment first (n)", severity="warning")
            return
        from ftui.screens.arena import ArenaScreen

        self.app.push_screen(ArenaScreen(self.selected))

    def action_promote(self) -> None:
        if self.selected is None:
            return
        r = report(self.store, self.selected)
        if r["winner"] is None:
            self.app.notify(f"no winner yet: {r['verdict']}", severity="warning", timeout=8)
            return
        model = r["arms"][r["winner"]]["model"]

        def done(yes: bool) -> None:
            if yes:
                out = self._try(promote_winner, self.store, self.selected)
                if out:
                    self.app.notify(f"{out['model']} is production in {out['slot']}; the "
                                    "experiment is stopped")

        self.app.push_screen(ConfirmDialog(
            f"{r['verdict']}\n\nPromote {model} (arm {r['winner']}) to production and stop the "
            "experiment?", yes="Promote"), done)
