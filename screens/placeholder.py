"""A section whose screen has not landed yet: says what it will do and what to use meanwhile."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widgets import Footer, Static

from widgets.section_bar import SectionBar

PLANNED = {
    "datasets": "Build frozen, cleaned training sets from rated interactions "
                "(filters, PII redaction, dedup, splits, export).",
    "training": "Launch LoRA fine-tuning runs and watch loss, throughput and GPU state live.",
    "models": "The registry of trained models: evaluate, merge, deploy to Ollama, playground.\n"
              "Meanwhile the registry works from a terminal: ftui models list | show | promote.",
    "experiments": "A/B tests through the gateway, a blind arena, and the statistics to decide.",
}


class PlaceholderScreen(Screen):
    def __init__(self, section: str) -> None:
        super().__init__()
        self.section = section

    def compose(self) -> ComposeResult:
        yield SectionBar(self.section)
        with Middle(), Center():
            yield Static(
                f"[b]{self.section.title()}[/b]\n\n{PLANNED[self.section]}\n\n"
                "[dim]Not built yet in this version. F1 goes back to Interactions.[/dim]",
                classes="placeholder",
            )
        yield Footer()
