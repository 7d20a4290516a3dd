"""Modal dialogs shared by the screens: confirm, one-line text, correction editor, filters.

Every dialog opens on its first field (FtuiDialog.AUTO_FOCUS skips the scrolling containers that
would otherwise take the focus) and shows the keys that matter in its title."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from rich.text import Text
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static, TextArea

from ftui import REASONING_MODES, STATUSES
from ftui.store.interactions import InteractionFilter

ResultT = TypeVar("ResultT")
FIELDS = ("Input, TextArea, Select, SelectionList, OptionList, Checkbox, RadioSet, Switch, "
          "DataTable, Button")


class FtuiDialog(ModalScreen[ResultT]):
    """Base of ftui's dialogs: the focus starts on the first field (or button), never on a
    container."""

    AUTO_FOCUS = FIELDS


class ConfirmDialog(FtuiDialog[bool]):
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="dialog-text", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="primary")
                yield Button(f"{self.no} (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class TextDialog(FtuiDialog[None]):
    BINDINGS = [Binding("escape,enter,q", "close", "Close")]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text, self.body = title, body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(self.body, markup=False)

    def action_close(self) -> None:
        self.dismiss(None)


class TextInputDialog(FtuiDialog[str | None]):
    """One line of text. It opens with the cursor after the existing text, nothing selected, so
    typing adds to it (adding a tag is the common case)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "", hint: str = "", *, enter: str = "saves",
                 esc: str = "cancels") -> None:
        super().__init__()
        self.title_text, self.value, self.hint = title, value, hint
        self.keys = f"enter {enter}, esc {esc}"  # what the keys do here, in the title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"{self.title_text} — {self.keys}", classes="dialog-title",
                        markup=False)
            yield Input(self.value, id="value", select_on_focus=False)
            if self.hint:
                yield Static(self.hint, classes="dialog-hint", markup=False)

    def on_mount(self) -> None:
        field = self.query_one("#value", Input)
        field.cursor_position = len(field.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


CORRECTION_KEYS = ("ctrl+s save · esc cancel · ctrl+a select all · ctrl+z/y undo/redo · "
                   "ctrl+x/c/v cut/copy/paste · an empty text removes the correction")


class CorrectionDialog(FtuiDialog[str | None]):
    """Edit the corrected assistant reply; the original stays visible beside it."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+a", "select_all", "Select all", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, original: str, correction: str | None) -> None:
        super().__init__()
        self.original, self.correction = original, correction

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Correct the assistant reply", classes="dialog-title")
            yield Static(CORRECTION_KEYS, id="correction-keys", classes="dialog-hint",
                         markup=False)
            with Horizontal(id="correction-panes"):
                with VerticalScroll(id="original-pane"):
                    # raw text, as the correction pane holds it: rendered Markdown made
                    # the panes differ where nothing was changed (backticks gone)
                    yield Static(Text(self.original or "(no assistant text)"))
                yield TextArea(self.correction if self.correction is not None else self.original,
                               id="editor", soft_wrap=True, show_line_numbers=False)

    def on_mount(self) -> None:
        self.query_one("#original-pane").border_title = "original"
        self.query_one("#editor").border_title = "correction"
        self.query_one("#editor", TextArea).focus()

    def action_save(self) -> None:
        self.dismiss(self.query_one("#editor", TextArea).text)

    def action_select_all(self) -> None:
        self.query_one("#editor", TextArea).select_all()

    def action_cancel(self) -> None:
        self.dismiss(None)


def _parse_date(text: str, name: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError as err:
        raise ValueError(f"{name}: {text!r} is not a date like 2026-11-25") from err


def _parse_rating(text: str, name: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if text not in {"1", "2", "3", "4", "5"}:
        raise ValueError(f"{name}: {text!r} is not a rating 1-5")
    return int(text)


class FilterDialog(FtuiDialog[InteractionFilter | None]):
    """Every filter of the browser in one form. Enter or ctrl+s applies (space opens a list, enter
    on a button presses it), esc cancels."""

    BINDINGS = [
        Binding("ctrl+s", "apply", "Apply", priority=True),
        Binding("enter", "apply_on_enter", "Apply", priority=True, show=False),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, current: InteractionFilter, models: list[str], sources: list[str]) -> None:
        super().__init__()
        self.current, self.models, self.sources = current, models, sources

    def compose(self) -> ComposeResult:
        f = self.current

        def one(values: tuple[str, ...]) -> str | object:
            return values[0] if values else Select.NULL

        with VerticalScroll(classes="dialog wide", id="filter-form"):
            yield Label("Filters — enter applies · space opens a list · esc cancels",
                        classes="dialog-title")
            with Horizontal(classes="form-row"):
                yield Label("mode", classes="form-label")
                yield Select([(m, m) for m in REASONING_MODES], value=one(f.modes), id="mode",
                             prompt="any")
                yield Label("status", classes="form-label")
                yield Select([(s, s) for s in STATUSES], value=one(f.statuses), id="status",
                             prompt="any")
            with Horizontal(classes="form-row"):
                yield Label("rating", classes="form-label")
                yield Input(str(f.rating_min or ""), placeholder="min 1-5", id="rating-min")
                yield Input(str(f.rating_max or ""), placeholder="max 1-5", id="rating-max")
            with Horizontal(classes="form-row"):  # own row: beside the bounds it squeezed them
                yield Label("", classes="form-label")
                yield Checkbox("unrated only", f.unrated, id="unrated")
                yield Checkbox("judge differs by 2+", f.judge_disagrees, id="judge-disagrees",
                               tooltip="rated interactions whose judge score is 2 or more "
                               "away from the rating")
            with Horizontal(classes="form-row"):
                yield Label("model", classes="form-label")
                yield Select([(m, m) for m in self.models], value=one(f.models), id="model",
                             prompt="any")
                yield Label("source", classes="form-label")
                yield Select([(s, s) for s in self.sources], value=one(f.sources), id="source",
                             prompt="any")
            with Horizontal(classes="form-row"):
                yield Label("tag", classes="form-label")
                yield Input(f.tag or "", placeholder="e.g. programming", id="tag")
                yield Label("since", classes="form-label")
                yield Input(f"{f.since:%Y-%m-%d}" if f.since else "", placeholder="YYYY-MM-DD",
                            id="since")
                yield Label("until", classes="form-label")
                yield Input(f"{f.until:%Y-%m-%d}" if f.until else "", placeholder="YYYY-MM-DD",
                            id="until")
            yield Static("", id="filter-error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", id="apply", variant="primary")
                yield Button("Clear all", id="clear")
                yield Button("Cancel", id="cancel")

    def _value(self, widget_id: str) -> tuple[str, ...]:
        value = self.query_one(f"#{widget_id}", Select).value
        return () if value in (Select.NULL, None) else (str(value),)

    def build(self) -> InteractionFilter:
        text = lambda wid: self.query_one(f"#{wid}", Input).value  # noqa: E731
        rmin = _parse_rating(text("rating-min"), "rating min")
        rmax = _parse_rating(text("rating-max"), "rating max")
        if rmin and rmax and rmin > rmax:
            raise ValueError(f"rating min {rmin} is above max {rmax}")
        since, until = _parse_date(text("since"), "since"), _parse_date(text("until"), "until")
        return self.current.with_(
            modes=self._value("mode"), statuses=self._value("status"),
            rating_min=rmin, rating_max=rmax, unrated=self.query_one("#unrated", Checkbox).value,
            models=self._value("model"), sources=self._value("source"),
            tag=text("tag").strip() or None, since=since, until=until,
            judge_disagrees=self.query_one("#judge-disagrees", Checkbox).value,
        )

    def action_apply(self) -> None:
        try:
            self.dismiss(self.build())
        except ValueError as err:
            self.query_one("#filter-error", Static).update(f"{err} — fix it or press esc")

    def action_apply_on_enter(self) -> None:
        focused = self.focused
        if isinstance(focused, Button) or any(s.expanded for s in self.query(Select)):
            raise SkipAction()  # enter presses the button / picks the highlighted option
        self.action_apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self.action_apply()
        elif event.button.id == "clear":
            self.dismiss(InteractionFilter(text=self.current.text))
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PickDialog(FtuiDialog[str | None]):
    """Pick one of a list (enter), or esc."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, options: list[tuple[str, str]], hint: str = "") -> None:
        super().__init__()
        self.title_text, self.options, self.hint = title, options, hint

    def compose(self) -> ComposeResult:
        from textual.widgets import OptionList
        from textual.widgets.option_list import Option

        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title", markup=False)
            yield OptionList(*(Option(label, id=value) for label, value in self.options),
                             id="pick")
            if self.hint:
                yield Static(self.hint, classes="dialog-hint")

    def on_option_list_option_selected(self, event) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
