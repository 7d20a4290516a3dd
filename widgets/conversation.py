"""The detail pane: a whole conversation (Markdown, code, tool calls, context), its metadata,
and, when there is one, the correction beside the original reply."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from ftui.widgets.detail import DetailPane
from ftui.widgets.interaction_list import stars
from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.padding import Padding
from rich.rule import Rule
from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from ftui.conversation import reply_text

ROLE_STYLES = {
    "system": "bold magenta",
    "user": "bold cyan",
    "assistant": "bold green",
    "tool": "bold yellow",
}


def _json_block(value: Any) -> Syntax:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    with contextlib.suppress(TypeError, ValueError):
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    return Syntax(text, "json", word_wrap=True, background_color="default")


def render_message(msg: dict[str, Any]) -> RenderableType:
    role = msg.get("role", "?")
    title = Text(f"{role}", style=ROLE_STYLES.get(role, "bold"))
    if msg.get("name"):
        title.append(f" ({msg['name']})", style="dim")
    parts: list[RenderableType] = [title]
    content = msg.get("content") or ""
    if role == "tool":
        parts.append(Padding(_json_block(content), (0, 0, 0, 2)))
    elif content:
        parts.append(Padding(Markdown(content, code_theme="ansi_dark"), (0, 0, 0, 2)))
    for call in msg.get("tool_calls") or []:
        fn = call.get("function", {})
        parts.append(Text(f"  → calls {fn.get('name')}", style="yellow"))
        parts.append(Padding(_json_block(fn.get("arguments", {})), (0, 0, 0, 4)))
    return Group(*parts)


def render_meta(item) -> Text:
    meta = Text()
    meta.append(f"#{item.id} ", style="bold")
    meta.append(f"{item.created_at:%Y-%m-%d %H:%M}  ", style="dim")
    meta.append(f"{item.reasoning_mode}  ", style="bold")
    meta.append(f"{item.model or 'unknown model'}  ")
    meta.append(stars(item.rating), style="yellow")
    meta.append(f"  {item.status}\n", style={"accepted": "green", "rejected": "red"}.get(item.status, "dim"))
    facts = [f"source {item.source}"]
    if item.latency_ms is not None:
        facts.append(f"latency {item.latency_ms:,.0f} ms")
    if item.prompt_tokens is not None or item.completion_tokens is not None:
        facts.append(f"tokens {item.prompt_tokens or '?'} in / {item.completion_tokens or '?'} out")
    if item.user_id or item.session_id:
        facts.append(f"user {item.user_id or '-'} · session {item.session_id or '-'}")
    meta.append("  ".join(facts), style="dim")
    if item.tags:
        meta.append("\ntags: ", style="dim")
        meta.append(" ".join(f"#{t}" for t in item.tag_list), style="cyan")
    if item.notes:
        meta.append("\nnotes: ", style="dim")
        meta.append(item.notes)
    return meta


def render_judgement(j, rating: int | None) -> Text:
    """The judge's score beside the human rating, its rationale and each criterion's score."""
    out = Text()
    who = f"  ({j.judge} · rubric {j.rubric} v{j.rubric_version})"
    if j.status != "ok":
        out.append("judge failed", style="bold red")
        out.append(who + "\n", style="dim")
        out.append(f"  {j.error or 'no reason recorded'}", style="red")
        return out
    out.append("judge ", style="bold magenta")
    out.append(stars(j.score), style="magenta")
    out.append(f" {j.score}")
    out.append("   human ", style="bold")
    out.append(stars(rating), style="yellow")
    if rating is not None and abs(j.score - rating) >= 2:
        out.append("  differs by 2+", style="bold red")
    elif rating is None:
        out.append("  (s takes the judge's score as the rating)", style="dim")
    out.append(who, style="dim")
    if j.rationale:
        out.append(f"\n  {j.rationale}", style="italic")
    for key, value in j.scores.items():
        out.append(f"\n  {key.replace('_', ' ')} {value.get('score')}", style="magenta")
        if value.get("rationale"):
            out.append(f"  {value['rationale']}", style="dim")
    return out


def render_conversation(item, judgement=None) -> RenderableType:
    parts: list[RenderableType] = [render_meta(item)]
    if judgement is not None:
        parts.append(render_judgement(judgement, item.rating))
    parts.append(Rule(style="dim"))
    if item.context_json:
        parts += [Text("context", style="bold blue"), Padding(_json_block(item.context), (0, 0, 0, 2))]
    if item.tools_json:
        names = [
            (t.get("function", t) if isinstance(t, dict) else {}).get("name", "?") for t in item.tools
        ]
        parts.append(Text("tools available: " + ", ".join(names), style="dim yellow"))
    for msg in item.messages:
        parts.append(render_message(msg))
        parts.append(Text(""))
    return Group(*parts)


def last_assistant_reply(messages: list[dict[str, Any]]) -> str:
    """The reply a correction replaces: the core decides (one rule for editor, build, training)."""
    return reply_text(messages)


class ConversationView(DetailPane):
    """Scrollable detail of one interaction."""

    DEFAULT_CSS = """
    ConversationView { padding: 0 1; }
    ConversationView #compare { height: auto; display: none; margin-top: 1; }
    ConversationView #compare.shown { display: block; }
    ConversationView #compare > Static { width: 1fr; height: auto; padding: 0 1; border: round $primary; }
    ConversationView #compare > #correction { border: round $success; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="conversation")
        with Horizontal(id="compare"):
            yield Static("", id="original")
            yield Static("", id="correction")

    def show(self, item, judgement=None) -> None:
        body = self.query_one("#conversation", Static)
        compare = self.query_one("#compare")
        if item is None:
            body.update(Text("No interaction selected.", style="dim"))
            compare.remove_class("shown")
            return
        body.update(render_conversation(item, judgement))
        if item.correction:
            original = self.query_one("#original", Static)
            original.border_title = "original reply"
            original.update(Markdown(last_assistant_reply(item.messages)))
            corrected = self.query_one("#correction", Static)
            corrected.border_title = "correction (training target)"
            corrected.update(Markdown(item.correction))
            compare.add_class("shown")
        else:
            compare.remove_class("shown")
        self.scroll_home(animate=False)
