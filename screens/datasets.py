"""Datasets: the rules as a form, a live preview of what they produce, frozen versions."""

from __future__ import annotations

import re
from pathlib import Path

from ftui.screens.base import FtuiScreen
from ftui.screens.dialogs import FtuiDialog, TextDialog
from ftui.widgets.dataset_plots import ModeBars, RatingBars, TokenHistogram
from ftui.widgets.detail import DetailPane
from ftui.widgets.footer import KeyFooter
from ftui.widgets.section_bar import SectionBar
from ftui.widgets.table import RecordTable
from rich import box
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import (
    Checkbox,
    Input,
    Label,
    ProgressBar,
    Select,
    SelectionList,
    Static,
)

from ftui import REASONING_MODES
from ftui.curate import (
    BuildResult,
    DatasetSpec,
    build_dataset,
    diff_datasets,
    list_datasets,
    preview,
)
from ftui.curate.export import EXPORT_FORMATS, export_dataset
from ftui.curate.redact import KINDS
from ftui.curate.spec import PAIR_SOURCES
from ftui.curate.versions import check_dataset_name
from ftui.errors import FtuiError

# A rule typed waits this long for the next key (the preview itself: ~0.5 s on 100k interactions)
PREVIEW_DELAY_S = 0.15
# Every placeholder redaction writes (PASSWORD and TOKEN included), from the patterns themselves
PLACEHOLDER = re.compile("<(?:" + "|".join(map(re.escape, KINDS)) + ")>")


def _row(label: str, *widgets) -> Horizontal:
    return Horizontal(Label(label, classes="ds-label"), *widgets, classes="ds-row")


def _int(text: str, name: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit():
        raise FtuiError(f"{name}: {text!r} is not a whole number", f"type a number for {name}")
    return int(text)


def _float(text: str, name: str) -> float:
    try:
        return float(text.strip() or 0)
    except ValueError as err:
        raise FtuiError(f"{name}: {text!r} is not a number", f"e.g. 0.1 for {name}") from err


def highlight_redactions(text: str) -> Text:
    out = Text(text)
    for m in PLACEHOLDER.finditer(text):
        out.stylize("bold reverse yellow", m.start(), m.end())
    return out


def signal_lines(r: BuildResult) -> Text:
    """Where the pairs (or labels) came from, kept of found per source, and for unpaired the
    desirable/undesirable balance (KTO weights the two sides by it)."""
    sources = r.stats.get("sources", {})
    found, kept = sources.get("candidates", {}), sources.get("all", {})
    out = Text()
    what = "pairs" if r.spec.kind == "preference" else "labelled replies"
    parts = [f"{name} {kept.get(name, 0):,}/{n:,}" for name, n in found.items()]
    out.append(f"  {what} by source (kept/found): {', '.join(parts) or 'none'}\n", style="cyan")
    balance = r.stats.get("balance")
    if balance:
        good, bad = balance["desirable"], balance["undesirable"]
        share = good / (good + bad) if good + bad else 0
        out.append(f"  balance: {good:,} desirable · {bad:,} undesirable "
                   f"({share:.0%} desirable)\n", style="cyan")
    return out


def _said(msg: dict | None, width: int = 300) -> Text:
    if not msg:
        return Text("—", style="dim")
    text = msg.get("content") or ""
    if not isinstance(text, str):
        text = str(text)
    if msg.get("tool_calls"):
        text += " [tool calls]"
    return highlight_redactions(" ".join(text.split())[:width])


def preference_samples(r: BuildResult, count: int = 4) -> Table | Text:
    """Samples of a preference version, chosen and rejected side by side (unpaired: the reply
    and its label), under the prompt's last user turn."""
    if not r.examples:
        return Text("no example", style="dim")
    paired = r.spec.kind == "preference"
    table = Table(expand=True, show_lines=True, box=box.SIMPLE_HEAD)
    table.add_column("prompt", ratio=2)
    if paired:
        table.add_column("chosen", ratio=3, style="green")
        table.add_column("rejected", ratio=3, style="red")
    else:
        table.add_column("reply", ratio=5)
        table.add_column("label", width=12)
    # one of each source first, so every kind of signal is seen
    by_source: dict[str, list] = {}
    for ex in r.examples:
        by_source.setdefault(ex.source, []).append(ex)
    shown = [group[0] for group in by_source.values()]
    shown += [ex for ex in r.examples if ex not in shown][:max(0, count - len(shown))]
    for ex in shown[:max(count, len(by_source))]:
        user = next((m for m in reversed(ex.messages[:-1]) if m["role"] == "user"), None)
        head = Text(f"#{ex.interaction_id or '-'} {ex.source} {ex.split}\n", style="bold")
        head.append_text(_said(user, 160))
        if paired:
            table.add_row(head, _said(ex.messages[-1]), _said(ex.rejected))
        else:
            label = Text("desirable", style="green") if ex.label else Text("undesirable",
                                                                            style="red")
            table.add_row(head, _said(ex.messages[-1]), label)
    return table


class ExportDialog(FtuiDialog[tuple[str, str] | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "go", "Export", priority=True)]

    def __init__(self, default_dir: str) -> None:
        super().__init__()
        self.default_dir = default_dir

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Export — ctrl+s or enter exports, esc cancels", classes="dialog-title")
            yield Select([(f, f) for f in EXPORT_FORMATS], value="openai", id="format",
                         allow_blank=False)
            yield Input(self.default_dir, id="out")
            yield Static("one file per split is written into this folder", classes="dialog-hint")

    def action_go(self) -> None:
        self.dismiss((str(self.query_one("#format", Select).value), self.query_one("#out", Input).value))

    def on_input_submitted(self, _event) -> None:
        self.action_go()

    def action_cancel(self) -> None:
        self.dismiss(None)


class DatasetsScreen(FtuiScreen):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    DEFAULT_CSS = """
    DatasetsScreen #ds-body { height: 1fr; layout: horizontal; }
    DatasetsScreen #ds-rules { width: 52; height: 1fr; border-right: solid $primary 50%;
                               padding: 0 1; }
    DatasetsScreen .ds-label { width: 13; }
    DatasetsScreen .ds-row { height: 1; margin-bottom: 1; }
    DatasetsScreen .ds-row Input, DatasetsScreen .ds-row Select { width: 1fr; }
    DatasetsScreen .ds-note { color: $text-muted; }
    DatasetsScreen #ds-rules SelectionList { height: 5; margin-bottom: 1; }
    DatasetsScreen #ds-rules Checkbox { width: auto; margin-right: 1; }
    DatasetsScreen #ds-preview { width: 1fr; height: 1fr; padding: 0 1; }
    DatasetsScreen #ds-plots { height: 12; }
    DatasetsScreen #hist { width: 1fr; }
    DatasetsScreen #modes-plot, DatasetsScreen #ratings-plot { width: 1fr; }
    DatasetsScreen #samples { height: auto; border-top: solid $primary 50%; }
    /* 80x24: the rules above (they scroll), the versions and the preview below (they scroll) */
    DatasetsScreen.-narrow #ds-body { layout: vertical; }
    DatasetsScreen.-narrow #ds-rules { width: 100%; height: 7; border-right: none;
                                       border-bottom: solid $primary 50%; }
    DatasetsScreen.-narrow #ds-plots { layout: vertical; height: auto; }
    DatasetsScreen.-narrow #hist, DatasetsScreen.-narrow #modes-plot,
    DatasetsScreen.-narrow #ratings-plot { width: 100%; height: 10; }
    """
    BINDINGS = [
        Binding("b", "build", "Build version"),
        Binding("ctrl+b", "build", "Build version", show=False, priority=True),
        Binding("escape", "leave_form", "Versions", show=False),
        Binding("d", "diff", "Diff"),
        Binding("x", "export", "Export"),
        Binding("m", "mark", "Mark for diff", show=False),
        Binding("ctrl+r", "refresh_preview", "Refresh preview", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._timer: Timer | None = None
        self.result: BuildResult | None = None
        self.marked: int | None = None

    def compose(self) -> ComposeResult:
        yield SectionBar("datasets")
        with Container(id="ds-body"):
            with VerticalScroll(id="ds-rules"):
                yield _row("name", Input("demo", id="name", compact=True))
                yield _row("kind", Select([("sft: conversations", "sft"),
                                           ("preference: chosen/rejected", "preference"),
                                           ("unpaired: labelled replies", "unpaired")],
                                          value="sft", allow_blank=False, id="kind", compact=True))
                yield Label("preference signals (preference, unpaired)", classes="ds-note")
                yield Horizontal(*(Checkbox(s, True, id=f"src_{s}", compact=True)
                                   for s in PAIR_SOURCES), classes="ds-row")
                yield _row("rating gap", Input("2", id="min_rating_gap", compact=True))
                yield _row("min rating", Select([(str(i), i) for i in range(1, 6)], value=4,
                                                 prompt="any", id="min_rating", compact=True))
                yield Checkbox("include unrated", id="include_unrated", compact=True)
                yield _row("judged min", Select([(f"unrated, judge {i}+", i) for i in range(1, 6)],
                                                prompt="off", id="judged_min", compact=True))
                yield Label("statuses", classes="ds-note")
                yield Horizontal(Checkbox("new", True, id="st_new", compact=True),
                                 Checkbox("accepted", True, id="st_accepted", compact=True),
                                 Checkbox("rejected", False, id="st_rejected", compact=True),
                                 classes="ds-row")
                yield Label("modes (none ticked: all)", classes="ds-note")
                yield SelectionList[str](*[(m, m) for m in REASONING_MODES], id="modes", compact=True)
                yield _row("tags", Input(placeholder="any of, comma-separated", id="tags", compact=True))
                yield _row("not tags", Input(placeholder="comma-separated", id="exclude_tags", compact=True))
                yield _row("since", Input(placeholder="YYYY-MM-DD", id="since", compact=True))
                yield _row("until", Input(placeholder="YYYY-MM-DD", id="until", compact=True))
                yield _row("min tokens", Input(id="min_tokens", compact=True))
                yield _row("max tokens", Input(id="max_tokens", compact=True))
                yield _row("too long", Select([("drop", "drop"), ("truncate", "truncate")],
                                              value="drop", allow_blank=False, id="over_length", compact=True))
                yield _row("max examples", Input(id="max_examples", compact=True))
                yield _row("system", Select([("keep logged", "keep"), ("mode's standard", "mode")],
                                            value="keep", allow_blank=False, id="system_prompt", compact=True))
                yield _row("PII", Select([("redact", "redact"), ("drop example", "drop"),
                                          ("off", "off")], value="redact", allow_blank=False,
                                         id="redact", compact=True))
                yield _row("near-dup", Input("0.85", placeholder="0.85 or off", id="near_dup", compact=True))
                yield _row("validation", Input("0.1", id="val", compact=True))
                yield _row("test", Input("0", id="test", compact=True))
                yield _row("seed", Input("0", id="seed", compact=True))
                yield _row("tokenizer", Input("approx", id="tokenizer", compact=True))
            with DetailPane(id="ds-preview"):
                yield RecordTable("id", "name", "created", "hash", "train", "val", "test",
                                  id="versions", empty_text="loading the versions…")
                yield Static(Text("loading: reading the interactions for a first preview…",
                                  style="italic"), id="funnel")
                with Horizontal(id="ds-plots"):
                    yield TokenHistogram(id="hist")
                    yield ModeBars(id="modes-plot")
                    yield RatingBars(id="ratings-plot")
                yield Static("", id="samples")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#versions", RecordTable)
        table.border_title = "versions (m marks one for d)"
        self.refresh_versions()
        self.action_refresh_preview()  # at once: the loading line shows until it arrives
        table.focus()  # b / d / x work at once; tab or a click enters the rules form

    def on_screen_resume(self) -> None:  # the base resumes the timers
        # Data loaded, rated or built elsewhere while hidden (the demo on first start, F1, the
        # CLI, the autopilot): this screen is built early and kept, so read both again.
        if self.result is not None:
            self.refresh_versions()
            self.action_refresh_preview()

    def action_leave_form(self) -> None:
        self.query_one("#versions", RecordTable).focus()

    # ------------------------------------------------------------ the spec

    def spec(self) -> DatasetSpec:
        q = self.query_one
        text = lambda wid: q(f"#{wid}", Input).value  # noqa: E731
        min_rating = q("#min_rating", Select).value
        kind = str(q("#kind", Select).value)
        near = text("near_dup").strip().lower()
        statuses = tuple(s for s in ("new", "accepted", "rejected")
                         if q(f"#st_{s}", Checkbox).value)
        split_tags = lambda v: tuple(t.strip() for t in v.split(",") if t.strip())  # noqa: E731
        return DatasetSpec(
            min_rating=None if min_rating in (Select.NULL, None) else int(min_rating),
            include_unrated=q("#include_unrated", Checkbox).value,
            judged_min=None if (jm := q("#judged_min", Select).value) in (Select.NULL, None)
            else int(jm),  # unrated ones the judge scored this or more (issue 13)
            statuses=statuses,
            modes=tuple(q("#modes", SelectionList).selected),
            tags=split_tags(text("tags")), exclude_tags=split_tags(text("exclude_tags")),
            since=text("since").strip() or None, until=text("until").strip() or None,
            min_tokens=_int(text("min_tokens"), "min tokens"),
            max_tokens=_int(text("max_tokens"), "max tokens"),
            over_length=str(q("#over_length", Select).value),
            max_examples=_int(text("max_examples"), "max examples"),
            system_prompt=str(q("#system_prompt", Select).value),
            redact=str(q("#redact", Select).value),
            near_dup=None if near in ("", "off") else _float(near, "near-dup"),
            val=_float(text("val"), "validation"), test=_float(text("test"), "test"),
            seed=_int(text("seed"), "seed") or 0,
            tokenizer=text("tokenizer").strip() or "approx",
            kind=kind,  # the signal rules below count for preference and unpaired only
            pair_sources=tuple(s for s in PAIR_SOURCES if q(f"#src_{s}", Checkbox).value)
            if kind != "sft" else PAIR_SOURCES,
            min_rating_gap=(_int(text("min_rating_gap"), "rating gap") or 2) if kind != "sft"
            else 2,
        ).validate()

    # ------------------------------------------------------------ live preview

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "name":
            self.schedule_preview()

    def on_select_changed(self, _event) -> None:
        self.schedule_preview()

    def on_checkbox_changed(self, _event) -> None:
        self.schedule_preview()

    def on_selection_list_selected_changed(self, _event) -> None:
        self.schedule_preview()

    def schedule_preview(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(PREVIEW_DELAY_S, self.action_refresh_preview)

    def action_refresh_preview(self) -> None:
        try:
            spec = self.spec()
        except FtuiError as err:
            self.query_one("#funnel", Static).update(Text(str(err), style="bold red"))
            return
        self.query_one("#funnel", Static).update(Text("previewing…", style="dim"))
        self._preview(spec)

    @work(thread=True, exclusive=True, group="preview")
    def _preview(self, spec: DatasetSpec) -> None:
        try:
            result = preview(self.store, spec, home=self.app.settings.home)
        except FtuiError as err:
            self.app.call_from_thread(self.query_one("#funnel", Static).update,
                                      Text(str(err), style="bold red"))
            return
        self.app.call_from_thread(self.show_result, result)

    def show_result(self, r: BuildResult) -> None:
        self.result = r
        lines = Text()
        sample = f" (steps shown on the best {r.matched if not r.sampled else 3000:,})" \
            if r.sampled else ""
        lines.append(f"{r.matched:,} interactions match the rules{sample}\n", style="bold")
        for rule, n in r.removed.items():
            lines.append(f"  − {n:,} {rule.replace('_', ' ')}\n", style="red")
        for what, n in r.changed.items():
            lines.append(f"  ~ {n:,} {what.replace('_', ' ')}\n", style="yellow")
        if r.spec.kind != "sft":
            lines.append_text(signal_lines(r))
        s = r.splits
        lines.append(f"→ train {s['train']:,}   validation {s['validation']:,}   test {s['test']:,}",
                     style="bold green")
        self.query_one("#funnel", Static).update(lines)
        self.query_one(TokenHistogram).show([e.tokens for e in r.examples], r.exact_tokens)
        stats = r.stats["all"]
        self.query_one(ModeBars).show(stats["by_mode"])
        self.query_one(RatingBars).show(stats["by_rating"])
        if r.spec.kind != "sft":
            self.query_one("#samples", Static).update(preference_samples(r))
            return
        body = Text()
        shown = sorted(r.examples, key=lambda e: -e.redactions)[:6]
        for ex in shown:
            body.append(f"#{ex.interaction_id} {ex.mode} {ex.split} · {ex.tokens} tokens"
                        + (f" · {ex.redactions} redacted" if ex.redactions else "") + "\n",
                        style="bold")
            for msg in ex.messages:
                if msg["role"] == "system":
                    continue
                body.append(f"  {msg['role']}: ", style="cyan")
                body.append_text(highlight_redactions(" ".join(msg["content"].split())[:300]))
                body.append("\n")
            body.append("\n")
        self.query_one("#samples", Static).update(body or Text("no example", style="dim"))

    # ------------------------------------------------------------ versions

    def refresh_versions(self) -> None:
        self.gather(lambda: list_datasets(self.store), self._show_versions, group="versions")

    def _show_versions(self, versions: list) -> None:
        table = self.query_one("#versions", RecordTable)
        table.empty_text = "no versions yet: b builds one from the rules"
        rows = []
        for d in versions:
            s = d.report["splits"]
            mark = "*" if d.id == self.marked else ""
            rows.append((d.id, (f"{d.id}{mark}", d.name, f"{d.created_at:%m-%d %H:%M}",
                                d.content_hash[:10], str(s["train"]), str(s["validation"]),
                                str(s["test"]))))
        table.show_rows(rows)
        table.refresh()

    def _selected_version(self) -> int | None:
        return self.query_one("#versions", RecordTable).selected_key

    def action_build(self) -> None:
        try:
            spec = self.spec()
        except FtuiError as err:
            self.notify_error(err)
            return
        try:
            name = check_dataset_name(self.query_one("#name", Input).value)
        except FtuiError as err:
            self.notify_error(err)
            return
        # mounted while building only: a hidden ProgressBar (display: none) kept the whole
        # screen from painting on its first visit (nothing showed until a key)
        self.query("#build-progress").remove()
        bar = ProgressBar(total=100, id="build-progress", show_eta=False)
        self.query_one("#ds-preview").mount(bar, after="#funnel")
        self._build(name, spec, bar)

    @work(thread=True, exclusive=True, group="build")
    def _build(self, name: str, spec: DatasetSpec, bar: ProgressBar) -> None:

        def progress(step: str, fraction: float) -> None:
            self.app.call_from_thread(bar.update, progress=round(fraction * 100))

        try:
            version, result, created = build_dataset(self.store, name, spec,
                                                     home=self.app.settings.home, progress=progress)
        except FtuiError as err:
            self._from_thread(self.notify_error, err)
        else:
            verb = "built" if created else "unchanged, same rules and data:"
            self.app.call_from_thread(
                self.say, f"{verb} dataset {version.id} '{version.name}' "
                f"({len(result.examples)} examples, hash {version.content_hash[:10]})")
            self.app.call_from_thread(self.refresh_versions)
        finally:
            self._from_thread(bar.remove)

    def action_mark(self) -> None:
        self.marked = self._selected_version()
        self.refresh_versions()

    def action_diff(self) -> None:
        chosen = self._selected_version()
        versions = [d.id for d in list_datasets(self.store)]
        if chosen is None or len(versions) < 2:
            self.say("diff needs two versions: build another one first", severity="warning")
            return
        other = self.marked if self.marked not in (None, chosen) else next(
            (v for v in versions if v < chosen), next(v for v in versions if v != chosen))
        a, b = sorted((other, chosen))
        diff = diff_datasets(self.store, a, b)
        lines = [f"+{len(diff.added)} examples added, -{len(diff.removed)} removed, "
                 f"{diff.kept} in both", ""]
        for split, (na, nb) in diff.counts.items():
            lines.append(f"{split:<11} {na:>6} -> {nb:<6} ({nb - na:+d})")
        if diff.spec_changes:
            lines.append("")
            lines += [f"rule {k}: {va} -> {vb}" for k, (va, vb) in diff.spec_changes.items()]
        self.app.push_screen(TextDialog(f"dataset {a} -> {b}", "\n".join(lines)))

    def action_export(self) -> None:
        chosen = self._selected_version()
        if chosen is None:
            self.say("no version to export: press b to build one", severity="warning")
            return
        default = str(Path(self.app.settings.home) / "exports" / f"dataset-{chosen}")

        def go(answer: tuple[str, str] | None) -> None:
            if answer is None:
                return
            fmt, out = answer
            try:
                result = export_dataset(self.store, chosen, fmt, out)
            except FtuiError as err:
                self.notify_error(err)
                return
            skipped = sum(result["skipped"].values())
            self.say(f"exported {fmt} to {out}: {', '.join(result['files'])}"
                            + (f" ({skipped} skipped: {result['note']})" if skipped else ""))

        self.app.push_screen(ExportDialog(default), go)
