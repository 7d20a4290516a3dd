"""Experiments: the list, and per experiment the figures per arm, the curves, a verdict in plain
words, and keys to start/stop, run the arena, and promote the winner.

The report (scipy statistics, Bradley-Terry) is computed in a worker thread, and only while this
screen is the visible one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ftui.screens.base import FtuiScreen
from ftui.screens.dialogs import ConfirmDialog, FtuiDialog
from ftui.screens.promote_dialog import GatedPromotion
from ftui.widgets.ab_plots import RatingPlot, WinRatePlot
from ftui.widgets.detail import DetailPane
from ftui.widgets.footer import KeyFooter
from ftui.widgets.progress_line import ProgressLine
from ftui.widgets.section_bar import SectionBar
from ftui.widgets.table import RecordTable
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.widgets import DataTable, Input, Label, Static

from ftui import ab, fmt
from ftui.ab.experiments import ModelsUnchecked
from ftui.ab.report import cumulative, promote_winner, report
from ftui.errors import FtuiError

REFRESH_S = 2.0
JUDGED_EVERY_S = 15.0  # the judge metric's floor between recomputes (issue 13)
FIELDS = (("name", "name", ""), ("alias", "alias (chat app asks)", "assistant"),
          ("a", "model A", ""), ("b", "model B", ""),
          ("split", "B's share (0-1)", "0.5"), ("min_samples", "min rated per arm", "100"))


def _fmt(v, spec: str | None = None) -> str:
    if v is None:
        return fmt.DASH
    if spec == ".0%":
        return fmt.percent(v)
    return fmt.figure(v, 3)


class NewExperimentDialog(FtuiDialog[object | None]):
    """`create(values)` makes the experiment; an FtuiError it raises shows in the dialog, which
    stays open with what was typed."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"),
                Binding("ctrl+s", "save", "Create", priority=True)]

    def __init__(self, create: Callable[[dict], object]) -> None:
        super().__init__()
        self.create = create
        self._unchecked: dict | None = None  # values Ollama could not check: again = create

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="new-exp"):
            yield Label("New experiment — ctrl+s creates (as a draft), esc cancels",
                        classes="dialog-title")
            for key, label, value in FIELDS:
                with Horizontal(classes="form-row"):
                    yield Label(label, classes="form-label")
                    yield Input(value, id=f"x_{key}", compact=True)
            yield Static("models: a registry id or name, or an Ollama model name",
                         classes="dialog-hint")
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
        values["check"] = values != self._unchecked  # the same values again: on purpose
        try:
            made = self.create(values)
        except ModelsUnchecked as err:
            self._unchecked = {k: v for k, v in values.items() if k != "check"}
            self.query_one("#exp-error", Static).update(Text(
                f"{err.message}\nfix: start Ollama and press ctrl+s, or press ctrl+s again to "
                "create it unchecked (that arm fails until Ollama serves the name)"))
            return
        except FtuiError as err:
            self.query_one("#exp-error", Static).update(Text(str(err)))
            return
        except Exception as err:  # noqa: BLE001 - shown in the dialog, never a traceback
            self.query_one("#exp-error", Static).update(Text(f"{type(err).__name__}: {err}"))
            return
        self.dismiss(made)

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass
class Dashboard:
    """One experiment's figures, read off the UI thread."""

    experiments: list
    report: dict | None = None
    curves: dict | None = None
    ranking: list | None = None
    judged: dict | None = None  # the judge metric (issue 13): ftui.judge.experiment


class ExperimentsScreen(FtuiScreen):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    DEFAULT_CSS = """
    ExperimentsScreen #exp-main { height: 1fr; layout: horizontal; }
    ExperimentsScreen #exp-table { width: 46; height: 1fr; border-right: solid $primary 50%; }
    ExperimentsScreen #exp-detail { width: 1fr; height: 1fr; padding: 0 1; }
    ExperimentsScreen #verdict { height: auto; margin-bottom: 1; }
    ExperimentsScreen #exp-figures { height: auto; }
    ExperimentsScreen #exp-charts { height: 18; }
    ExperimentsScreen #rating-plot, ExperimentsScreen #win-plot { width: 1fr; }
    /* 80x24: the list above, the dashboard below; the charts are reached by scrolling it */
    ExperimentsScreen.-narrow #exp-main { layout: vertical; }
    ExperimentsScreen.-narrow #exp-table { width: 100%; height: 6; border-right: none;
                                           border-bottom: solid $primary 50%; }
    ExperimentsScreen.-narrow #exp-charts { layout: vertical; height: auto; }
    ExperimentsScreen.-narrow #rating-plot, ExperimentsScreen.-narrow #win-plot {
        width: 100%; height: 14; }
    """
    BINDINGS = [
        Binding("n", "new", "New"),
        Binding("s", "start_stop", "Start/stop"),
        Binding("v", "arena", "Arena"),
        Binding("P", "promote", "Promote winner",
                tooltip="Promote the winner to production (the gate runs first)"),
        Binding("r", "reload", "Reload", show=False),
        Binding("J", "judged_basis", "Verdict basis", show=False,
                tooltip="Rest the verdict on judged traffic (labelled), or back on ratings"),
        Binding("w", "ranking_voters", "Ranking voters", show=False,
                tooltip="Whose arena votes the ranking counts: people, all, judges"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.selected: int | None = None
        self.reports = 0  # how many reports were computed (a hidden screen computes none)
        self._ranked_at: int | None = None
        self._ranked: list = []
        self.shown_report: dict | None = None  # the report on screen (the promote key reads it)
        self.shown_judged: dict | None = None  # the judge metric on screen
        self._judged_at: tuple | None = None
        self._judged: dict | None = None
        self._judged_time = 0.0
        self.voters = "human"  # whose arena votes the ranking counts (ftui.ab.arena.VOTERS)

    def compose(self) -> ComposeResult:
        yield SectionBar("experiments")
        with Container(id="exp-main"):
            yield RecordTable("id", "name", "status", "alias", "B %", id="exp-table",
                              empty_text="no experiments: n creates one")
            with DetailPane(id="exp-detail"):
                yield Static("no experiments yet: n creates one (two models, an alias the chat "
                             "app asks for, a split)", id="verdict")
                yield Static("", id="exp-figures")
                with Horizontal(id="exp-charts"):
                    yield RatingPlot(id="rating-plot")
                    yield WinRatePlot(id="win-plot")
        yield ProgressLine(id="promote-progress")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.promotion = GatedPromotion(self, self.query_one("#promote-progress", ProgressLine))
        self.every(REFRESH_S, self.refresh_all)
        self.refresh_all()
        self.query_one("#exp-table").focus()

    def on_screen_resume(self) -> None:  # the base resumes the timer; read at once too
        self.refresh_all()

    # ------------------------------------------------------------ reading (worker thread)

    def refresh_all(self) -> None:
        if not self.is_current:
            return
        selected = self.selected
        self.gather(lambda: self._read(selected), self._show, group="experiments")

    def _read(self, selected: int | None) -> Dashboard:
        items = ab.list_experiments(self.store)
        board = Dashboard(experiments=items)
        ids = [e.id for e in items]
        if not ids:
            return board
        exp_id = selected if selected in ids else ids[0]
        board.report = report(self.store, exp_id)
        board.curves = cumulative(self.store, exp_id)
        board.ranking = self._ranking()
        board.judged = self._judged_report(exp_id)
        self.reports += 1
        return board

    def _judged_report(self, exp_id: int) -> dict:
        """The judge metric; recomputed only when judgements or interactions changed, and
        under live traffic at most every JUDGED_EVERY_S (1.4 s at 100k judged interactions)."""
        import time

        from ftui.judge.experiment import judged_key, judged_report

        key = judged_key(self.store, exp_id)
        fresh = (self._judged_at is not None and self._judged_at[0] == exp_id
                 and time.monotonic() - self._judged_time < JUDGED_EVERY_S)
        if self._judged_at != key and not fresh:
            self._judged_at, self._judged = key, judged_report(self.store, exp_id)
            self._judged_time = time.monotonic()
        return self._judged

    def basis(self, exp_id: int | None) -> str:
        """What the verdict of `exp_id` rests on: "ratings" (default) or "judged"."""
        chosen = self.recall("experiments.verdict_basis", {}, dict)
        return "judged" if chosen.get(str(exp_id)) == "judged" else "ratings"

    def _ranking(self) -> list[dict]:
        """Bradley-Terry over every vote; recomputed only when the vote count changes."""
        from sqlalchemy import func
        from sqlmodel import select

        from ftui.ab.arena import ranking
        from ftui.store import ArenaVote

        with self.store.session() as s:
            n = s.exec(select(func.count()).select_from(ArenaVote)).one()
        if self._ranked_at != (n, self.voters):
            self._ranked_at = (n, self.voters)
            self._ranked = ranking(self.store, rounds=100, voters=self.voters) if n else []
        return self._ranked

    # ------------------------------------------------------------ drawing (UI thread)

    def _show(self, board: Dashboard) -> None:
        table = self.query_one("#exp-table", RecordTable)
        self.selected = table.show_rows(
            ((e.id, (str(e.id), e.name[:18], e.status, e.alias[:12], f"{e.split_b:.0%}"))
             for e in board.experiments), keep=self.selected)
        if board.report is None or board.report["experiment"]["id"] != self.selected:
            if board.report is not None:
                self.refresh_all()  # the cursor moved during the read
            return
        self.shown_report, self.shown_judged = board.report, board.judged
        self._draw(board)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        key = self.query_one("#exp-table", RecordTable).key_of(event.row_key)
        if key is not None and key != self.selected:
            self.selected = key
            self.refresh_all()

    def _draw(self, board: Dashboard) -> None:
        r = board.report
        e = r["experiment"]
        verdict = Text()
        verdict.append(f"{e['name']}  ", style="bold")
        verdict.append(e["status"], style={"running": "green", "stopped": "dim"}.get(
            e["status"], "yellow"))
        verdict.append(f"   alias {e['alias']} · B share {e['split_b']:.0%} · metric "
                       f"{e['primary_metric']}\n", style="dim")
        j = board.judged or {}
        if self.basis(e["id"]) == "judged" and j.get("judged_verdict"):  # the operator chose it
            verdict.append("verdict " + j["judged_verdict"], style="bold magenta")
            verdict.append(f"\nratings verdict (not the basis now; J goes back): {r['verdict']}",
                           style="dim")
        else:
            verdict.append(r["verdict"], style="bold " + ("green" if r["winner"] else "yellow"))
        self.query_one("#verdict", Static).update(verdict)
        table = Table(box=None, pad_edge=False, expand=False)
        a, b = r["arms"]["A"], r["arms"]["B"]
        table.add_column("")
        table.add_column(f"A {a['model'][:24]}", justify="right")
        table.add_column(f"B {b['model'][:24]}", justify="right")
        for key in ("units", "interactions", "rated", "mean_rating", "latency_ms_p50",
                    "latency_ms_p95", "tokens_per_s", "fallbacks"):
            shown = fmt.millis if key.startswith("latency_ms") else _fmt
            table.add_row(key.replace("_ms", "").replace("_", " "), shown(a[key]),
                          shown(b[key]))
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
        from ftui.ab.arena import VOTERS_LABEL
        from ftui.judge.experiment import judged_lines

        for line in judged_lines(j) if j else []:  # beside the human figures, never in them
            lines.append(line + "\n", style="magenta")
        ranked = board.ranking or []
        if len(ranked) > 2 or self.voters != "human":  # rank every model that met in the arena
            lines.append(f"arena ranking (Bradley-Terry, 95%, {VOTERS_LABEL[self.voters]}; "
                         "w changes): " + ", ".join(
                f"{x['model']} {x['strength']:.2f} [{x['ci95'][0]:.2f}, {x['ci95'][1]:.2f}]"
                for x in ranked) + "\n")
        self.query_one("#exp-figures", Static).update(Group(table, lines))
        self.query_one(RatingPlot).show(board.curves["A"], board.curves["B"])
        self.query_one(WinRatePlot).show(board.curves["win_rate"])

    # ------------------------------------------------------------ actions

    def _try(self, fn, *args, **kwargs):
        return self.attempt(fn, *args, refresh=self.refresh_all, **kwargs)

    def action_reload(self) -> None:
        self._judged_time = 0.0  # r reads the judge metric again at once
        self.refresh_all()

    def action_new(self) -> None:
        def create(values: dict):
            return ab.create_experiment(self.store, name=values["name"], alias=values["alias"],
                                        model_a=values["a"], model_b=values["b"],
                                        split_b=values["split"],
                                        min_samples=values["min_samples"],
                                        check_host=self.settings.ollama_host
                                        if values["check"] else None)

        def done(e) -> None:
            if e is not None:
                self.selected = e.id
                self.refresh_all()
                self.say(f"{e.name} created as a draft: s starts it")

        self.app.push_screen(NewExperimentDialog(create), done)

    def action_start_stop(self) -> None:
        if self.selected is None:
            return
        from ftui.ab.experiments import gateway_warnings

        e = ab.get_experiment(self.store, self.selected)
        done = self._try(ab.set_status, self.store, e.id,
                         "stopped" if e.status == "running" else "running")
        if done is not None and done.status == "running":
            for note in gateway_warnings(self.store, done):
                self.say(note, severity="warning", timeout=10)

    def action_arena(self) -> None:
        if self.selected is None:
            self.say("create an experiment first (n)", severity="warning")
            return
        from ftui.screens.arena import ArenaScreen

        self.app.push_screen(ArenaScreen(self.selected))

    def action_judged_basis(self) -> None:
        if self.selected is None:
            return
        chosen = dict(self.recall("experiments.verdict_basis", {}, dict))
        judged = self.basis(self.selected) != "judged"
        chosen[str(self.selected)] = "judged" if judged else "ratings"
        self.remember("experiments.verdict_basis", chosen)
        self.say("the verdict now rests on JUDGED traffic (a judge's scores, labelled); J goes "
                 "back to ratings" if judged else "the verdict rests on people's ratings again")
        self.refresh_all()

    def action_ranking_voters(self) -> None:
        from ftui.ab.arena import VOTERS, VOTERS_LABEL

        self.voters = VOTERS[(VOTERS.index(self.voters) + 1) % len(VOTERS)]
        self.say(f"arena ranking: {VOTERS_LABEL[self.voters]}")
        self.refresh_all()

    def action_promote(self) -> None:
        r = self.shown_report  # computed off the UI thread; promote_winner reads it again
        if self.selected is None or r is None or r["experiment"]["id"] != self.selected:
            return
        j = self.shown_judged or {}
        if self.basis(self.selected) == "judged" and j.get("judged_verdict"):
            # the operator chose judged traffic: its verdict and winner, labelled in the history
            r = {**r, "winner": j["judged_winner"], "verdict": "verdict " + j["judged_verdict"]}
        if r["winner"] is None:
            self.say(f"no winner yet: {r['verdict']}", severity="warning", timeout=8)
            return
        if self.promotion.running:
            self.say(f"{self.promotion.what}: still running, wait for it", severity="warning")
            return
        exp_id, arm = self.selected, r["winner"]
        model = r["arms"][arm]["model"]

        def promote(force, gate, on_line):
            return promote_winner(self.store, exp_id, arm, force=force, gate=gate,
                                  home=self.settings.home, host=self.settings.ollama_host,
                                  on_line=on_line, verdict=r["verdict"])

        def promoted(out) -> None:
            self.say(f"{out['model']} is production in {out['slot']}; the experiment is "
                     "stopped")
            self.refresh_all()

        def done(yes: bool) -> None:
            if yes:
                self.promotion.start(f"promote {model} (arm {arm}) to production", promote,
                                     promoted)

        self.app.push_screen(ConfirmDialog(
            f"{r['verdict']}\n\nPromote {model} (arm {r['winner']}) to production and stop the "
            "experiment? The regression gate runs first.", yes="Promote"), done)
