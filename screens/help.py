"""`?`: every key of the current screen, grouped, and a short guide to the loop."""

from __future__ import annotations

from ftui.widgets.detail import DetailPane
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

GUIDE = """\
The loop: F1 rate and correct what the assistant answered → F2 build a dataset from the good \
(and corrected) interactions → F3 fine-tune on it and watch the loss → F4 register, evaluate and \
deploy the model to Ollama → F5 A/B test it against the base through `ftui proxy`, promote the \
winner → new interactions arrive in F1. F7 shows the autopilot running that loop by policy \
(x pauses it). F6 tries any model by hand; F8 shows how the product \
does over time (response time, ratings, task success, retention) per model or mode.

ctrl+p opens the command palette (every key above is there too); ctrl+t switches light/dark; \
ctrl+q quits."""

MOVEMENT_GROUP = "Moving around"
FOLDED = {f"rate({n})" for n in range(2, 6)}  # shown as one "1-5" entry
GLOBAL_GROUP = "Everywhere"


def help_sections(screen: Screen) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(group, [(keys, description), ...]), ...] for the bindings active on `screen` now: the
    screen's own (grouped by its HELP_GROUPS, action name -> group), the focused widget's
    (movement) and the app's (everywhere). Keys bound to one action are shown together."""
    app = screen.app
    groups_of: dict[str, str] = getattr(screen, "HELP_GROUPS", {})
    collected: dict[str, dict[tuple[int, str], list[str]]] = {}
    descriptions: dict[tuple[int, str], str] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.description or binding.system or binding.action in FOLDED:
            continue
        node = active.node
        action_name = binding.action.split("(")[0]
        if node is app:
            group = GLOBAL_GROUP
        elif node is screen:
            group = groups_of.get(binding.action, groups_of.get(action_name, "This screen"))
        else:
            group = MOVEMENT_GROUP
        ident = (id(node), binding.action)
        label = binding.tooltip or binding.description
        if binding.action.startswith("rate(") and binding.key_display == "1-5":
            label = "Rate 1-5"
        descriptions[ident] = label
        display = app.get_key_display(Binding(key, binding.action, key_display=binding.key_display
                                              if binding.key_display == "1-5" else None))
        keys = collected.setdefault(group, {}).setdefault(ident, [])
        if display not in keys:
            keys.append(display)
    order = [*dict.fromkeys(groups_of.values()), "This screen", MOVEMENT_GROUP, GLOBAL_GROUP]
    out = []
    for group in sorted(collected, key=lambda g: order.index(g) if g in order else len(order)):
        entries = [(", ".join(keys), descriptions[ident])
                   for ident, keys in collected[group].items()]
        out.append((group, entries))
    return out


def _render(sections: list[tuple[str, list[tuple[str, str]]]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for group, entries in sections:
        table.add_row(Text(group, style="bold underline"), "")
        for keys, description in entries:
            table.add_row(Text(keys, style="bold cyan"), Text(description))
        table.add_row("", "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.sections = help_sections(screen)  # before this dialog takes the focus
        self.screen_name = type(screen).__name__.removesuffix("Screen")

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="help"):
            yield Label(f"Keys — {self.screen_name} (esc closes)", classes="dialog-title")
            with DetailPane(id="help-body"):
                yield Static(_render(self.sections), id="help-keys")
                yield Static(Text(GUIDE), id="help-guide")

    def on_mount(self) -> None:
        self.app.clear_notifications()  # toasts would cover the keys being read
        self.query_one("#help-body").focus()

    def action_close(self) -> None:
        self.dismiss(None)
