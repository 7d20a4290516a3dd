"""Evaluate a model: which dataset, which split, how many examples, how long an answer may be,
and optionally a judge (model + rubric) that scores each answer per criterion (issue 13).

Also the compare view of two evaluations (j there opens the pairwise judge: A against B on the
same prompts, asked in both orders, B's win rate with a Wilson interval)."""

from __future__ import annotations

import threading

from ftui.screens.dialogs import FtuiDialog
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Input, Label, Select, Static

from ftui.errors import FtuiError

SPLITS = (("held-out (validation, else test)", ""), ("validation", "validation"),
          ("test", "test"), ("train", "train"))


class EvaluateDialog(FtuiDialog[dict | None]):
    """Answers {"dataset_id", "split" (None: held-out), "limit", "max_new_tokens", "judge"
    (None: no judge), "rubric" (None: each example's mode's)}."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"),
                Binding("ctrl+s", "go", "Evaluate", priority=True)]

    def __init__(self, model_name: str, datasets: list, default_dataset: int | None) -> None:
        super().__init__()
        self.model_name, self.datasets = model_name, datasets
        ids = [d.id for d in datasets]
        self.default_dataset = default_dataset if default_dataset in ids else (
            ids[0] if ids else None)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="eval-dialog"):
            yield Label(f"Evaluate {self.model_name} — enter or ctrl+s starts, esc cancels",
                        classes="dialog-title", markup=False)
            with Horizontal(classes="form-row"):
                yield Label("dataset", classes="form-label")
                yield Select([(f"{d.id} {d.name} ({d.examples} examples)", d.id)
                              for d in self.datasets], value=self.default_dataset,
                             allow_blank=False, id="ev-dataset", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("split", classes="form-label")
                yield Select(SPLITS, value="", allow_blank=False, id="ev-split", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("examples (max)", classes="form-label")
                yield Input("20", id="ev-limit", compact=True, type="integer")
            with Horizontal(classes="form-row"):
                yield Label("max new tokens", classes="form-label")
                yield Input("128", id="ev-tokens", compact=True, type="integer")
            yield from judge_fields(self.app, "ev")
            yield Static("each example is answered by the model (greedy); the loss needs a "
                         "local model; a judge adds its per-criterion scores (its opinion, "
                         "shown apart)", classes="dialog-hint")
            yield Static("", id="ev-error", classes="dialog-error")

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.action_go()

    def action_go(self) -> None:
        try:
            limit = int(self.query_one("#ev-limit", Input).value)
            tokens = int(self.query_one("#ev-tokens", Input).value)
        except ValueError:
            self.query_one("#ev-error", Static).update("examples and max new tokens are whole "
                                                       "numbers")
            return
        if limit < 1 or tokens < 1:
            self.query_one("#ev-error", Static).update("examples and max new tokens are at "
                                                       "least 1")
            return
        split = self.query_one("#ev-split", Select).value
        judge, rubric = read_judge_fields(self, "ev")
        self.dismiss({"dataset_id": int(self.query_one("#ev-dataset", Select).value),
                      "split": split or None, "limit": limit, "max_new_tokens": tokens,
                      "judge": judge, "rubric": rubric})

    def action_cancel(self) -> None:
        self.dismiss(None)


JUDGE_KEY = "interactions.judge"  # the judge F1 last used: one judge across the screens


def judge_fields(app, prefix: str, required: bool = False) -> ComposeResult:
    """A judge model field (empty: no judge, unless `required`) and a rubric choice."""
    from ftui.judge.rubrics import rubric_names

    default = app.ui_state.get(JUDGE_KEY, app.settings.extra.get("judge") or "", str)
    with Horizontal(classes="form-row"):
        yield Label("judge model", classes="form-label")
        yield Input(default if required else "", id=f"{prefix}-judge", compact=True,
                    placeholder=default or ("an Ollama or registered model" if required
                                            else "none (optional)"))
    with Horizontal(classes="form-row"):
        yield Label("rubric", classes="form-label")
        yield Select([("each example's mode", ""),
                      *((n, n) for n in rubric_names(app.settings.home))],
                     value="", allow_blank=False, id=f"{prefix}-rubric", compact=True)


def read_judge_fields(dialog, prefix: str) -> tuple[str | None, str | None]:
    judge = dialog.query_one(f"#{prefix}-judge", Input).value.strip() or None
    rubric = dialog.query_one(f"#{prefix}-rubric", Select).value or None
    if judge:
        dialog.app.ui_state.set(JUDGE_KEY, judge)
    return judge, rubric


class CompareDialog(FtuiDialog[None]):
    """Two evaluations side by side (the Models screen's c); j opens the pairwise judge."""

    BINDINGS = [Binding("escape,enter,q", "close", "Close"),
                Binding("j", "pairwise", "Judge A vs B pairwise")]

    def __init__(self, body: str, a_id: int, b_id: int, dataset_id: int | None = None,
                 split: str | None = None) -> None:
        super().__init__()
        self.body, self.a_id, self.b_id = body, a_id, b_id
        self.dataset_id, self.split = dataset_id, split

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Compare — j judges A against B pairwise, esc closes",
                        classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.body, markup=False, id="compare-body")

    def action_pairwise(self) -> None:
        self.app.push_screen(PairwiseDialog(self.a_id, self.b_id, self.dataset_id, self.split))

    def action_close(self) -> None:
        self.dismiss(None)


class PairwiseDialog(FtuiDialog[dict | None]):
    """A and B answer the same prompts of a dataset split; the judge compares each pair in both
    orders (a tie when they disagree). Runs in a worker thread; esc cancels, then closes."""

    BINDINGS = [Binding("escape", "cancel", "Cancel / close"),
                Binding("ctrl+s", "go", "Judge", priority=True)]

    def __init__(self, a_id: int, b_id: int, dataset_id: int | None = None,
                 split: str | None = None) -> None:
        super().__init__()
        self.a_id, self.b_id, self.dataset_id, self.split = a_id, b_id, dataset_id, split
        self.cancel: threading.Event | None = None
        self.result: dict | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="pairwise-dialog"):
            yield Label("Pairwise judge: A against B on the same prompts, both orders — "
                        "ctrl+s starts, esc cancels", classes="dialog-title")
            yield from judge_fields(self.app, "pw", required=True)
            with Horizontal(classes="form-row"):
                yield Label("prompts (max)", classes="form-label")
                yield Input("20", id="pw-limit", compact=True, type="integer")
            yield Static(f"prompts: dataset {self.dataset_id or '(A’s)'} "
                         f"{self.split or 'held-out'} split, as A was evaluated",
                         classes="dialog-hint", markup=False)
            yield Static("", id="pw-status", markup=False)
            with VerticalScroll(classes="dialog-body"):
                yield Static("", id="pw-result", markup=False)
            yield Static("", id="pw-error", classes="dialog-error")

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.action_go()

    def action_go(self) -> None:
        if self.cancel is not None:
            return  # running
        try:
            limit = int(self.query_one("#pw-limit", Input).value)
        except ValueError:
            limit = 0
        judge, rubric = read_judge_fields(self, "pw")
        error = ("name a judge model" if not judge else
                 "prompts is a whole number, at least 1" if limit < 1 else "")
        self.query_one("#pw-error", Static).update(error)
        if error:
            return
        self.cancel = threading.Event()
        self.query_one("#pw-status", Static).update(f"asking {judge}…")
        self._run(judge, rubric, limit, self.cancel)

    def _status(self, stage: str, done: int, total: int) -> None:
        what = {"A": "A answered", "B": "B answered", "judge": "pairs judged"}[stage]
        self.query_one("#pw-status", Static).update(f"{done}/{total} {what} · esc cancels")

    @work(thread=True, group="pairwise")
    def _run(self, judge_name: str, rubric: str | None, limit: int,
             cancel: threading.Event) -> None:
        from ftui.judge.evaluation import compare_on_split, pairwise_lines
        from ftui.judge.run import resolve_judge

        store, settings = self.app.store, self.app.settings

        def say(stage: str, done: int, total: int) -> None:
            self.app.call_from_thread(self._status, stage, done, total)

        try:
            judge = resolve_judge(store, judge_name, host=settings.ollama_host,
                                  home=settings.home)
            result = compare_on_split(store, self.a_id, self.b_id, judge,
                                      host=settings.ollama_host, home=settings.home,
                                      dataset_id=self.dataset_id, split=self.split,
                                      limit=limit, rubric=rubric, on_progress=say,
                                      cancel=cancel)
            self.app.call_from_thread(self._done, result, "\n".join(pairwise_lines(result)))
        except FtuiError as err:
            self.app.call_from_thread(self._failed, str(err))
        except Exception as err:  # noqa: BLE001 - said in the dialog, logged with its traceback
            from ftui.logs import log_exception

            log_exception("pairwise judge", err)
            self.app.call_from_thread(self._failed, f"{type(err).__name__}: {err}")

    def _done(self, result: dict, text: str) -> None:
        self.cancel, self.result = None, result
        self.query_one("#pw-status", Static).update("done · esc closes")
        self.query_one("#pw-result", Static).update(text)

    def _failed(self, message: str) -> None:
        self.cancel = None
        self.query_one("#pw-status", Static).update("")
        self.query_one("#pw-error", Static).update(Text(message))

    def action_cancel(self) -> None:
        if self.cancel is not None:
            self.cancel.set()
            self.query_one("#pw-status", Static).update("cancelling…")
            return
        self.dismiss(self.result)
