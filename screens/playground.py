"""Playground: chat with any registered or Ollama model in a reasoning mode, streaming. Each
exchange is logged as an interaction (source playground) and rated in place with 1-5."""

from __future__ import annotations

import uuid

from ftui.screens.base import FtuiScreen
from ftui.screens.common import rating_bindings
from ftui.widgets.detail import DetailPane
from ftui.widgets.footer import KeyFooter
from ftui.widgets.interaction_list import stars
from ftui.widgets.section_bar import SectionBar
from rich.console import Group
from rich.markdown import Markdown
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Label, Select, Static

from ftui import REASONING_MODES, fmt, registry
from ftui.errors import FtuiError
from ftui.store import interactions

# "auto" first (the router picks), then each mode once (REASONING_MODES holds "auto" too)
MODE_OPTIONS = [("auto", "auto"), *((m, m) for m in REASONING_MODES if m != "auto")]


class Turn(Static):
    """One exchange: the prompt, the streamed answer, and its rating."""

    def __init__(self, prompt: str) -> None:
        super().__init__(classes="turn")
        self.prompt, self.answer, self.note = prompt, "", "…"
        self.rating: int | None = None
        self.interaction_id: int | None = None

    def on_mount(self) -> None:
        self.redraw()

    def meta(self) -> Text:
        meta = Text(self.note, style="dim")
        if self.interaction_id is not None:
            meta.append(f"  · interaction {self.interaction_id} · ")
            meta.append(stars(self.rating) if self.rating else "unrated (1-5 rates)",
                        style="yellow" if self.rating else "dim")
        return meta

    def redraw(self) -> None:
        head = Text("you  ", style="bold cyan")
        head.append(self.prompt)
        self.update(Group(head, Text("model", style="bold green"),
                          Markdown(self.answer or "…"), self.meta()))


class PlaygroundScreen(FtuiScreen):
    BINDINGS = [
        *rating_bindings(),
        Binding("i,enter", "type", "Type"),
        Binding("n", "new_chat", "New chat"),
        Binding("m", "pick_model", "Model"),
        Binding("escape", "leave_input", "Leave input"),  # the one key shown while typing
    ]

    def __init__(self) -> None:
        super().__init__()
        self.history: list[dict] = []
        self.turns: list[Turn] = []
        self.session = f"playground-{uuid.uuid4().hex[:8]}"
        self.busy = False
        self.wanted_model: str | None = None
        self._prompt_waits = False  # enter was pressed with no model: the list is open

    def compose(self) -> ComposeResult:
        yield SectionBar("playground")
        with Horizontal(id="play-bar"):
            yield Label("model", classes="form-label")
            yield Select([], id="play-model", allow_blank=True, compact=True,
                         prompt="pick a model")
            yield Label("mode", classes="form-label")
            yield Select(MODE_OPTIONS, value="auto",
                         allow_blank=False, id="play-mode", compact=True)
        # shown while Ollama does not answer: why its models are missing from the list
        yield Static("", id="play-ollama", classes="dialog-hint")
        yield DetailPane(Static("Pick a model (m), type a prompt, enter sends. Every exchange "
                                    "is logged (source playground); 1-5 rates the last answer.",
                                    classes="dialog-hint"), id="transcript")
        yield Input(placeholder="ask something — enter sends, esc leaves the input", id="prompt")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#play-ollama", Static).display = False
        self.fill_models()
        self.query_one("#prompt", Input).focus()

    def on_screen_resume(self) -> None:
        self.fill_models()

    def fill_models(self) -> None:
        """Registered models at once; Ollama's own list is added when it answers."""
        options = [(f"{m.name} ({m.kind}, {m.stage})", str(m.id))
                   for m in registry.list_models(self.store, include_archived=False)]
        self._set_options(options)
        self._add_ollama(options)

    def _set_options(self, options: list[tuple[str, str]]) -> None:
        select = self.query_one("#play-model", Select)
        keep = self.wanted_model or (select.value if select.value != Select.NULL else None)
        select.set_options(options)
        if keep is not None and any(v == keep for _, v in options):
            select.value = keep
            self.wanted_model = None

    @work(thread=True, exclusive=True, group="ollama-list")
    def _add_ollama(self, options: list[tuple[str, str]]) -> None:
        from ftui.inference import ollama_models

        try:
            names = ollama_models(self.app.settings.ollama_host, timeout_s=3)
        except FtuiError as err:  # Ollama down: the registry's models are still there
            self.app.call_from_thread(self._show_ollama_note, err)
            return
        self.app.call_from_thread(self._show_ollama_note, None)
        known = {m.ollama_name for m in registry.list_models(self.store)}
        extra = [(f"{n} (Ollama)", n) for n in names if n not in known]
        if extra:
            self.app.call_from_thread(self._set_options, options + extra)

    def _show_ollama_note(self, err: FtuiError | None) -> None:
        note = self.query_one("#play-ollama", Static)
        note.display = err is not None
        if err is not None:
            note.update(Text(f"{err.message}: only registered models are listed"
                             + (f"\n  fix: {err.hint}" if err.hint else ""), style="yellow"))

    def choose_model(self, ref: str) -> None:
        self.wanted_model = ref
        self.fill_models()

    # ------------------------------------------------------------ chat

    def on_input_submitted(self, event: Input.Submitted) -> None:
        prompt = event.value.strip()
        model = self.query_one("#play-model", Select).value
        if not prompt:
            return
        if model == Select.NULL:  # the prompt stays typed; the list opens to pick from
            self.say("pick a model first: the model list is open (m opens it, esc closes)",
                     severity="warning")
            self._prompt_waits = True
            self.action_pick_model()
            return
        if self.busy:
            self.say("still answering the last prompt", severity="warning")
            return
        event.input.value = ""
        turn = Turn(prompt)
        self.turns.append(turn)
        transcript = self.query_one("#transcript", VerticalScroll)
        transcript.mount(turn)
        transcript.scroll_end(animate=False)
        self.busy = True
        self._ask(turn, str(model), str(self.query_one("#play-mode", Select).value), prompt)

    def on_select_changed(self, event: Select.Changed) -> None:
        """A model picked from the list that enter opened: the typed prompt takes the keys
        again, so the next enter sends it (only then: fill_models sets the value too)."""
        if event.select.id == "play-model" and self._prompt_waits \
                and event.value != Select.NULL:
            self._prompt_waits = False
            self.query_one("#prompt", Input).focus()

    @work(thread=True, group="chat")
    def _ask(self, turn: Turn, model: str, mode: str, prompt: str) -> None:
        from ftui.inference.playground import chat_turn

        def token(piece: str) -> None:
            turn.answer += piece
            self.app.call_from_thread(turn.redraw)

        try:
            ex = chat_turn(self.store, model, self.history, prompt, mode=mode,
                           home=self.app.settings.home, host=self.app.settings.ollama_host,
                           on_token=token, session_id=self.session)
        except Exception as err:  # noqa: BLE001 - shown under the prompt, never a traceback
            if not isinstance(err, FtuiError):
                from ftui.logs import log_exception

                log_exception("playground turn", err)
            turn.note = f"error: {err}"
            self.app.call_from_thread(self._done, turn, None)
            return
        g = ex.routed.generation
        turn.answer = g.text
        turn.note = (f"{ex.routed.mode} · {self._answered_by(model, ex.routed)} · "
                     f"{fmt.millis(g.latency_ms)}"
                     + (f" · {g.tokens_per_second:.0f} tok/s" if g.tokens_per_second else "")
                     + (f" · fell back: {ex.routed.fallback_reason}" if ex.routed.fell_back
                        else ""))
        turn.interaction_id = ex.interaction_id
        if ex.interaction_id is None:
            turn.note += " · the model answered nothing (not logged)"
        self.history = ex.messages
        self.app.call_from_thread(self._done, turn, ex)

    def _answered_by(self, ref: str, routed) -> str:
        """Who answered: Ollama's model name, or a local model's registry name (not the
        folder its weights are in); after a fallback, the base that answered."""
        g = routed.generation
        if g.backend == "ollama" or routed.fell_back:
            return g.model
        try:
            return registry.get_model(self.store, ref).name
        except FtuiError:
            return g.model

    def _done(self, turn: Turn, ex) -> None:
        self.busy = False
        turn.redraw()
        self.query_one("#transcript", VerticalScroll).scroll_end(animate=False)
        if ex is not None:
            self.query_one("#transcript").focus()  # so 1-5 rate at once

    # ------------------------------------------------------------ keys

    def action_rate(self, rating: int) -> None:
        turn = next((t for t in reversed(self.turns) if t.interaction_id is not None), None)
        if turn is None:
            self.say("nothing to rate yet", severity="warning")
            return
        interactions.set_rating(self.store, turn.interaction_id, rating)
        turn.rating = rating
        turn.redraw()

    def action_pick_model(self) -> None:
        select = self.query_one("#play-model", Select)
        select.focus()
        select.action_show_overlay()

    def action_type(self) -> None:
        self.query_one("#prompt", Input).focus()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "leave_input":  # in the footer (and on esc) only while typing a prompt
            return self.is_mounted and self.query_one("#prompt", Input).has_focus
        return True

    def action_leave_input(self) -> None:
        self.query_one("#transcript").focus()

    def action_new_chat(self) -> None:
        self.history, self.turns = [], []
        self.query_one("#transcript", VerticalScroll).remove_children()
        self.session = f"playground-{uuid.uuid4().hex[:8]}"
        self.query_one("#prompt", Input).focus()
