"""Evaluate a model: which dataset, which split, how many examples, how long an answer may be."""

from __future__ import annotations

from ftui.screens.dialogs import FtuiDialog
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static

SPLITS = (("held-out (validation, else test)", ""), ("validation", "validation"),
          ("test", "test"), ("train", "train"))


class EvaluateDialog(FtuiDialog[dict | None]):
    """Answers {"dataset_id", "split" (None: held-out), "limit", "max_new_tokens"}."""

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
            yield Static("each example is answered by the model (greedy); the loss needs a "
                         "local model", classes="dialog-hint")
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
        self.dismiss({"dataset_id": int(self.query_one("#ev-dataset", Select).value),
                      "split": split or None, "limit": limit, "max_new_tokens": tokens})

    def action_cancel(self) -> None:
        self.dismiss(None)
