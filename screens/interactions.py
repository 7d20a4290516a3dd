"""Interactions: browse, read and rate the assistant's logged interactions from the keyboard."""

from __future__ import annotations

from ftui.screens.base import FtuiScreen
from ftui.screens.common import rating_bindings
from ftui.screens.dialogs import ConfirmDialog, CorrectionDialog, FilterDialog, TextInputDialog
from ftui.widgets.conversation import ConversationView, last_assistant_reply
from ftui.widgets.interaction_list import InteractionList
from ftui.widgets.section_bar import SectionBar
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Footer, Input, Static

from ftui.demo import load_demo
from ftui.store import interactions as core
from ftui.store.interactions import Counters, InteractionFilter, RowPager

DETAIL_DELAY_S = 0.04  # coalesce fast j/k presses into one detail render


class InteractionsScreen(FtuiScreen):
    BINDINGS = [
        *rating_bindings(),
        Binding("0", "rate(0)", "Clear rating", show=False),
        Binding("a", "mark('accepted')", "Accept"),
        Binding("x", "mark('rejected')", "Reject"),
        Binding("u", "mark('new')", "Unmark", show=False),
        Binding("e", "edit_correction", "Correct"),
        Binding("t", "edit_tags", "Tags"),
        Binding("c", "edit_notes", "Notes", show=False),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("f", "filters", "Filter"),
        Binding("n", "next_unrated", "Next unrated"),
        Binding("escape", "clear_filters", "Clear filter", show=False),
        Binding("r", "reload", "Reload", show=False),
        Binding("D", "load_demo", "Load demo data", show=False),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]

    def __init__(self) -> None:
        super().__init__()
        self.filter = InteractionFilter()
        self.counters = Counters()
        self._detail_timer: Timer | None = None
        self._offered_demo = False

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield SectionBar("interactions")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield Input(placeholder="search the conversations — enter applies, esc cancels",
                            id="search")
                yield InteractionList(id="list")
                yield Static("", id="list-status")
            yield ConversationView(id="detail")
        yield Static("", id="counters")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#search").display = False
        self.reload()
        self.refresh_counters()
        self.query_one(InteractionList).focus()

    # ------------------------------------------------------------ data flow

    @property
    def list(self) -> InteractionList:
        return self.query_one(InteractionList)

    def reload(self) -> None:
        """Show the first page of the current filter; the total is counted in the background."""
        pager = RowPager(self.store, self.filter)
        self.list.empty_text = (
            "no interactions yet: press D for the demo data, or run `ftui import FILE...`"
            if self.filter.is_empty else "nothing matches the filter (esc clears it)")
        if self.filter.may_scan:  # no index serves it: on a big store this may take a while
            self.query_one("#list-status", Static).update(
                f" searching… [dim]filter:[/] {self.filter.describe()}")
            self._search(pager, max(3 * self.list.page_size, 100))
        else:
            self.list.load(pager)
            self._update_status()
            self._count(pager)

    @work(thread=True, exclusive=True, group="search")
    def _search(self, pager: RowPager, want: int) -> None:
        rows = pager.first(want)
        self.app.call_from_thread(self._show_found, pager, rows, want)
        self._count(pager)

    def _show_found(self, pager: RowPager, rows: list, want: int) -> None:
        if pager.filter == self.filter:  # the user may have moved on meanwhile
            self.list.set_rows(pager, rows, want)
            self._update_status()

    @work(thread=True, exclusive=True, group="count")
    def _count(self, pager: RowPager) -> None:
        total = pager.count()
        if pager.filter == self.filter:
            self.app.call_from_thread(self._set_total, total)

    def _set_total(self, total: int) -> None:
        self.list.set_total(total)
        self._update_status()

    @work(thread=True, exclusive=True, group="counters")
    def refresh_counters(self) -> None:
        counters = core.counters(self.store)
        self.app.call_from_thread(self._show_counters, counters)

    def _show_counters(self, counters: Counters) -> None:
        self.counters = counters
        self.render_counters()
        if counters.total == 0 and not self._offered_demo:
            self._offered_demo = True
            self.app.push_screen(
                ConfirmDialog("The store is empty.\n\nLoad the demo data set (a few hundred "
                              "sample interactions of a programming assistant) to try ftui?\n"
                              "Or quit and run: ftui import FILE...", yes="Load demo"),
                self._maybe_load_demo,
            )

    def render_counters(self) -> None:
        c = self.counters
        self.query_one("#counters", Static).update(
            f" unrated [b]{c.unrated:,}[/]   accepted [b green]{c.accepted:,}[/]   "
            f"rejected [b red]{c.rejected:,}[/]   total {c.total:,}"
            f"   [dim]auto-advance {'on' if self.app.settings.advance_on_rate else 'off'}[/]"
        )

    def _maybe_load_demo(self, yes: bool | None) -> None:
        if yes:
            self.load_demo_data()

    def action_load_demo(self) -> None:
        self.load_demo_data()

    @work(thread=True, exclusive=True, group="demo")
    def load_demo_data(self) -> None:
        report = load_demo(self.store)
        self.app.call_from_thread(self.app.notify, f"demo data: {report.imported} interactions "
                                  f"loaded ({report.duplicates} already present)")
        self.app.call_from_thread(self.reload)
        self.app.call_from_thread(self.refresh_counters)

    def _update_status(self) -> None:
        lst = self.list
        pos, total = lst.position, lst.total
        where = "-" if pos is None else f"{pos + 1:,}"
        of = "…" if total is None else f"{total:,}"
        if not lst.rows:
            where = "0"
        self.query_one("#list-status", Static).update(
            f" {where} of {of}   [dim]filter:[/] {self.filter.describe()}"
        )

    def on_interaction_list_highlighted(self, event: InteractionList.Highlighted) -> None:
        self._update_status()
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(DETAIL_DELAY_S, self._show_detail)

    def _show_detail(self) -> None:
        row = self.list.current
        item = core.get(self.store, row.id) if row else None
        self.query_one(ConversationView).show(item)

    # ------------------------------------------------------------ edits

    def _edit(self, change) -> bool:
        """Run one change against the store; a failure becomes a message, never a traceback."""
        done = object()
        return self.attempt(lambda: (change(), done)[1]) is done

    def action_rate(self, rating: int) -> None:
        row = self.list.current
        if row is None:
            return
        value = rating or None
        if not self._edit(lambda: core.set_rating(self.store, row.id, value)):
            return
        if (row.rating is None) != (value is None):
            self.counters.unrated += 1 if value is None else -1
            self.render_counters()
        self.list.patch_current(rating=value)
        if value is not None and self.app.settings.advance_on_rate:
            self.list.move(1)
        else:
            self._show_detail()

    def action_mark(self, status: str) -> None:
        row = self.list.current
        if row is None or not self._edit(lambda: core.set_status(self.store, row.id, status)):
            return
        for name, delta in ((row.status, -1), (status, 1)):
            if name in ("accepted", "rejected"):
                setattr(self.counters, name, getattr(self.counters, name) + delta)
        self.render_counters()
        self.list.patch_current(status=status)
        if status != "new" and self.app.settings.advance_on_rate:
            self.list.move(1)
        else:
            self._show_detail()

    def action_edit_correction(self) -> None:
        row = self.list.current
        if row is None:
            return
        item = core.get(self.store, row.id)
        original = last_assistant_reply(item.messages)

        def save(text: str | None) -> None:
            if text is None:
                return
            value = None if not text.strip() or text == original else text
            if self._edit(lambda: core.set_correction(self.store, row.id, value)):
                self.list.patch_current(has_correction=value is not None)
                self._show_detail()
                self.app.notify("correction saved" if value else "correction removed")

        self.app.push_screen(CorrectionDialog(original, item.correction), save)

    def action_edit_tags(self) -> None:
        row = self.list.current
        if row is None:
            return

        def save(text: str | None) -> None:
            if text is None:
                return
            tags: list[str] = []
            if self._edit(lambda: tags.extend(core.set_tags(self.store, row.id, text.split(",")))):
                self.list.patch_current(tags=",".join(tags))
                self._show_detail()

        self.app.push_screen(TextInputDialog(
            "Tags (comma-separated)", ", ".join(t for t in row.tags.split(",") if t),
            "lower-case; spaces become dashes; an empty line removes all tags"), save)

    def action_edit_notes(self) -> None:
        row = self.list.current
        if row is None:
            return
        item = core.get(self.store, row.id)

        def save(text: str | None) -> None:
            if text is not None and self._edit(lambda: core.set_notes(self.store, row.id, text)):
                self._show_detail()

        self.app.push_screen(TextInputDialog("Notes", item.notes or ""), save)

    # ------------------------------------------------------------ finding

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.display = True
        search.value = self.filter.text
        search.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "search":
            return
        self.filter = self.filter.with_(text=event.value.strip())
        event.input.display = bool(self.filter.text)
        self.list.focus()
        self.reload()

    def on_key(self, event) -> None:
        search = self.query_one("#search", Input)
        if event.key == "escape" and search.has_focus:
            event.stop()
            search.display = bool(self.filter.text)
            self.list.focus()

    def action_filters(self) -> None:
        models = core.distinct_values(self.store, "model")
        sources = core.distinct_values(self.store, "source")

        def apply(new: InteractionFilter | None) -> None:
            if new is not None:
                self.apply_filter(new)

        self.app.push_screen(FilterDialog(self.filter, models, sources), apply)

    def apply_filter(self, new: InteractionFilter) -> None:
        if new != self.filter:
            self.filter = new
            self.query_one("#search", Input).display = bool(new.text)
            self.reload()

    def action_clear_filters(self) -> None:
        self.apply_filter(InteractionFilter())

    def action_next_unrated(self) -> None:
        row = self.list.current
        found = core.next_unrated(self.store, self.filter, row.key if row else None)
        if found is None:
            self.app.notify("no unrated interaction matches the filter — all done")
            return
        self.list.show_from([found])
        if self.list.position is None:
            self._count_position()

    @work(thread=True, exclusive=True, group="position")
    def _count_position(self) -> None:
        lst = self.list
        row = lst.current
        if row is None:
            return
        pos = core.position_of(self.store, self.filter, row.key)
        self.app.call_from_thread(self._set_position, row.id, pos)

    def _set_position(self, row_id: int, pos: int) -> None:
        lst = self.list
        if lst.current is not None and lst.current.id == row_id:
            lst.first_abs = pos - lst.cursor
            self._update_status()

    def action_reload(self) -> None:
        self.reload()
        self.refresh_counters()
