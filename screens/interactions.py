"""Interactions: browse, read and rate the assistant's logged interactions from the keyboard.

New interactions (from the gateway, the playground) appear by themselves: while the screen is
visible a worker polls a cheap change marker every POLL_S seconds and merges what arrived into the
list without moving the selection. Every edit goes through the app's undo history (ctrl+z)."""

from __future__ import annotations

import threading

from ftui.screens.base import FtuiScreen
from ftui.screens.common import rating_bindings
from ftui.screens.dialogs import (
    ConfirmDialog,
    CorrectionDialog,
    FilterDialog,
    PickDialog,
    TextDialog,
    TextInputDialog,
)
from ftui.widgets.conversation import ConversationView, last_assistant_reply
from ftui.widgets.footer import KeyFooter
from ftui.widgets.interaction_list import InteractionList
from ftui.widgets.section_bar import SectionBar
from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Input, Static

from ftui.demo import load_demo_set
from ftui.judge.run import current_judgement
from ftui.store import interactions as core
from ftui.store.edits import EditStep
from ftui.store.interactions import Counters, InteractionFilter, RowPager

DETAIL_DELAY_S = 0.04  # coalesce fast j/k presses into one detail render
POLL_S = 2.0  # how often a visible F1 looks for new interactions
NEW_ROWS_LIMIT = 500  # more arrivals than this at once: re-read around the selection instead
FILTER_KEY = "interactions.filter"

BULK_ACTIONS = [
    ("accept", {"status": "accepted"}), ("reject", {"status": "rejected"}),
    ("reset the status to new", {"status": "new"}),
    *((f"rate {n}", {"rating": n}) for n in range(1, 6)),
    ("clear the rating", {"rating": None}), ("add a tag…", None),
]


class SearchInput(Input):
    """The search field; its keys show in the footer while typing (the screen's are hidden)."""

    BINDINGS = [Binding("enter", "submit", "Apply search"),
                Binding("escape", "leave_search", "Cancel search")]

    def action_leave_search(self) -> None:  # normally the screen's on_key takes esc first
        self.screen.leave_search()


class InteractionsScreen(FtuiScreen):
    BINDINGS = [
        *rating_bindings(),
        Binding("0", "rate(0)", "Clear rating", show=False),
        Binding("a", "mark('accepted')", "Accept", tooltip="Accept: use it for training"),
        Binding("x", "mark('rejected')", "Reject", tooltip="Reject: never train on it"),
        Binding("u", "mark('new')", "Status new", show=False,
                tooltip="Set the status back to new"),
        Binding("e", "edit_correction", "Correct",
                tooltip="Correct the reply (the correction is the training target)"),
        Binding("t", "edit_tags", "Tags", tooltip="Edit the tags (typing adds one)"),
        Binding("ctrl+z", "undo", "Undo",
                tooltip="Undo the last rating, status, correction, tags or bulk action"),
        Binding("M", "clear_marks", "Clear marks", show=False),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("f", "filters", "Filter"),
        # shown after Filter: 80x24 ends at Filter, a wider footer shows these as well
        Binding("n", "next_unrated", "Next unrated"),
        Binding("space", "toggle_mark", "Mark",
                tooltip="Mark / unmark the row for a bulk action"),
        Binding("B", "bulk", "Bulk",
                tooltip="Bulk action on the marked rows, or on all rows of the filter"),
        Binding("c", "edit_notes", "Notes"),
        Binding("escape", "clear_filters", "Clear filter", show=False,
                tooltip="Clear the search and filters (the selection stays)"),
        Binding("r", "reload", "Reload", show=False),
        Binding("D", "load_demo", "Load demo data", show=False),
        Binding("J", "judge", "Judge", show=False,
                tooltip="Judge the unrated interactions of the filter in the background "
                "(J again cancels)"),
        Binding("s", "accept_judge", "Take judge's score", show=False,
                tooltip="Take the judge's score as the rating (ctrl+z undoes it)"),
        Binding("d", "toggle_disagree", "Judge differs", show=False,
                tooltip="Show only rated interactions the judge scores 2+ away (d again: off)"),
        Binding("K", "agreement", "Judge agreement", show=False,
                tooltip="How far the judge agrees with the ratings: kappa, Spearman, confusion"),
    ]
    HELP_GROUPS = {
        **{f"rate({n})": "Rate and review" for n in range(6)},
        "mark": "Rate and review", "edit_correction": "Rate and review",
        "edit_tags": "Rate and review", "edit_notes": "Rate and review",
        "undo": "Rate and review",
        "toggle_mark": "Bulk", "bulk": "Bulk", "clear_marks": "Bulk",
        "search": "Find", "filters": "Find", "next_unrated": "Find", "clear_filters": "Find",
        "reload": "Data", "load_demo": "Data",
        "judge": "Judge", "accept_judge": "Judge", "toggle_disagree": "Judge",
        "agreement": "Judge",
    }
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]

    def __init__(self) -> None:
        super().__init__()
        self.filter = InteractionFilter()
        self.counters = Counters()
        self._detail_timer: Timer | None = None
        self._offered_demo = False
        self._seen_max_id = 0  # highest interaction id the list has been checked against
        self._marker: int | None = None
        self._choices: tuple[list[str], list[str]] | None = None
        self._filters_wanted = False
        self._judge_cancel: threading.Event | None = None  # set while a judge run goes on
        self._judge_line = ""
        self._judge_timer: Timer | None = None
        # a demo load in progress: polls wait; results read before it ended (epoch) are dropped,
        # else a half-imported count could land after the final one
        self._importing = False
        self._epoch = 0

    # ------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield SectionBar("interactions")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield SearchInput(placeholder="search the conversations — enter applies, "
                                  "esc cancels", id="search")
                yield InteractionList(id="list")
                yield Static("", id="list-status")
            yield ConversationView(id="detail")
        yield Static("", id="counters")
        yield KeyFooter(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#search").display = False
        self.filter = InteractionFilter.from_dict(self.ui_state.get(FILTER_KEY, {}, kind=dict))
        self.query_one("#search").display = bool(self.filter.text)
        self.reload()
        self.refresh_counters()
        self.list.focus()
        self.every(POLL_S, self.poll)
        self._fetch_choices()

    @property
    def history(self):
        return self.app.edit_history

    # ------------------------------------------------------------ data flow

    @property
    def list(self) -> InteractionList:
        return self.query_one(InteractionList)

    def reload(self, keep_id: int | None = None) -> None:
        """Show the current filter (total counted in the background); the cursor stays on
        `keep_id` when that row matches the filter and can be found cheaply, else row 1."""
        pager = RowPager(self.store, self.filter)
        self._seen_max_id = core.newest_id(self.store)
        self.list.empty_text = (
            "no interactions yet: press D for the demo data, or run `ftui import FILE...`"
            if self.filter.is_empty else "nothing matches the filter (esc clears it)")
        if self.filter.may_scan:  # no index serves it: on a big store this may take a while
            self.query_one("#list-status", Static).update(
                f" searching… [dim]filter:[/] {escape(self.filter.describe())}")
            self._search(pager, max(3 * self.list.page_size, 100), keep_id)
        else:
            self.list.load(pager)
            self._keep(keep_id)
            self._update_status()
            self._count(pager)

    def _keep(self, keep_id: int | None) -> None:
        if keep_id is None or self.list.jump_to(keep_id) or self.filter.may_scan:
            return
        if core.matches(self.store, self.filter, keep_id):
            row = core.row_of(self.store, keep_id)
            if row is not None:
                self.list.show_from([row])
                if self.list.position is None:
                    self._count_position()

    def _search(self, pager: RowPager, want: int, keep_id: int | None) -> None:
        def found(rows: list) -> None:
            if pager.filter == self.filter:  # the user may have moved on meanwhile
                self.list.set_rows(pager, rows, want)
                self._keep(keep_id)
                self._update_status()
                self._count(pager)

        self.gather(lambda: pager.first(want), found, group="search", skip_if_busy=False)

    def _count(self, pager: RowPager) -> None:
        def counted(total: int) -> None:
            if pager.filter == self.filter:
                self.list.set_total(total)
                self._update_status()

        self.gather(pager.count, counted, group="count", skip_if_busy=False)

    def refresh_counters(self) -> None:
        f = self.filter
        self.gather(lambda: (f, core.counters(self.store, f)), self._show_counters,
                    group="counters", latest=True)

    def _show_counters(self, result: tuple[InteractionFilter, Counters]) -> None:
        f, counters = result
        if f != self.filter:
            return
        self.counters = counters
        self.render_counters()
        if counters.total == 0 and f.is_empty and not self._offered_demo:
            self._offered_demo = True
            self.app.push_screen(
                ConfirmDialog("The store is empty.\n\nLoad the demo data set (a few hundred "
                              "sample interactions of a programming assistant) to try ftui?\n"
                              "Or quit and run: ftui import FILE...", yes="Load demo"),
                self._maybe_load_demo,
            )

    def render_counters(self) -> None:
        c = self.counters
        scope = "" if self.filter.is_empty else " [dim](filtered)[/]"
        marked = f"   marked [b]{len(self.list.marked):,}[/]" if self.list.marked else ""
        self.query_one("#counters", Static).update(
            f" unrated [b]{c.unrated:,}[/]  accepted [b green]{c.accepted:,}[/]  "
            f"rejected [b red]{c.rejected:,}[/]  total {c.total:,}{scope}{marked}"
            f"   [dim]advance {'on' if self.settings.advance_on_rate else 'off'}[/]"
            f"{self._judge_line}"
        )

    # ------------------------------------------------------------ live refresh

    def on_screen_resume(self) -> None:
        if self.is_mounted and self._marker is not None:
            self.poll()  # back from another section: catch up now, not at the next tick

    def poll(self) -> None:
        """Cheap check (the newest id: one index lookup) in a worker; the list and the counters
        are only touched when something arrived."""
        if self._importing:
            return
        self.gather(lambda: core.newest_id(self.store), self._on_marker, group="poll")

    def _on_marker(self, marker: int) -> None:
        if marker == self._marker:
            return
        self._marker = marker
        f, since, epoch = self.filter, self._seen_max_id, self._epoch
        self.gather(lambda: (f, marker, core.rows_since(self.store, f, since, NEW_ROWS_LIMIT),
                             core.counters(self.store, f), epoch), self._show_arrivals,
                    group="arrivals", skip_if_busy=False)

    def _show_arrivals(self, result) -> None:
        f, max_id, rows, counters, epoch = result
        if epoch != self._epoch:  # read while a demo load ran: the next poll looks again
            self._marker = None
            return
        if f != self.filter:
            return
        self._seen_max_id = max(self._seen_max_id, max_id)
        if len(rows) >= NEW_ROWS_LIMIT:  # a big import: re-read around the selection
            current = self.list.current
            self.reload(keep_id=current.id if current else None)
        elif rows:
            was_empty = not self.list.rows
            self.list.merge_new(rows)
            if was_empty:
                self._show_detail()
            self._update_status()
        self._show_counters((f, counters))

    def _maybe_load_demo(self, yes: bool | None) -> None:
        if yes:
            self.load_demo_data()

    def action_load_demo(self) -> None:
        self.load_demo_data()

    def load_demo_data(self) -> None:
        def load():
            try:
                return load_demo_set(self.store)  # what `ftui demo` loads
            finally:
                self._importing = False

        def shown(loaded) -> None:
            self._epoch += 1
            self.say(loaded.summary())
            self.reload()
            self.refresh_counters()

        self._importing = True
        self._epoch += 1
        self.gather(load, shown, group="demo")

    def _update_status(self) -> None:
        lst = self.list
        pos, total = lst.position, lst.total
        where = "-" if pos is None else f"{pos + 1:,}"
        of = "…" if total is None else f"{total:,}"
        if not lst.rows:
            where = "0"
        self.query_one("#list-status", Static).update(
            f" {where} of {of}   [dim]filter:[/] {escape(self.filter.describe())}"
        )

    def on_interaction_list_highlighted(self, event: InteractionList.Highlighted) -> None:
        self._update_status()
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(DETAIL_DELAY_S, self._show_detail)

    def _show_detail(self) -> None:
        row = self.list.current
        item = core.get(self.store, row.id) if row else None
        judgement = current_judgement(self.store, row.id) if row else None
        self.query_one(ConversationView).show(item, judgement)

    # ------------------------------------------------------------ edits (undoable)

    def _change(self, row_id: int, label: str, **values) -> EditStep | None:
        return self.attempt(self.history.change, [row_id], label, **values)

    def _after_edit(self, advance: bool) -> None:
        if advance and self.settings.advance_on_rate:
            self.list.move(1)
        else:
            self._show_detail()
        self.refresh_counters()

    def action_rate(self, rating: int) -> None:
        row = self.list.current
        if row is None:
            return
        value = rating or None
        label = f"rating {value} on #{row.id}" if value else f"rating cleared on #{row.id}"
        if self._change(row.id, label, rating=value) is None:
            return
        if (row.rating is None) != (value is None):
            self.counters.unrated += 1 if value is None else -1
            self.render_counters()
        self.list.patch_current(rating=value)
        self._after_edit(advance=value is not None)

    def action_mark(self, status: str) -> None:
        row = self.list.current
        if row is None or self._change(row.id, f"{status} #{row.id}", status=status) is None:
            return
        for name, delta in ((row.status, -1), (status, 1)):
            if name in ("accepted", "rejected"):
                setattr(self.counters, name, getattr(self.counters, name) + delta)
        self.render_counters()
        self.list.patch_current(status=status)
        self._after_edit(advance=status != "new")

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
            if self._change(row.id, f"correction of #{row.id}", correction=value):
                self.list.update_row(core.row_of(self.store, row.id))
                self._show_detail()
                self.say("correction saved" if value else "correction removed")

        self.app.push_screen(CorrectionDialog(original, item.correction), save)

    def action_edit_tags(self) -> None:
        row = self.list.current
        if row is None:
            return

        def save(text: str | None) -> None:
            if text is None:
                return
            step = self._change(row.id, f"tags of #{row.id}", tags=text)
            if step is not None:
                self.list.update_row(core.row_of(self.store, row.id))
                self._show_detail()

        current = ", ".join(t for t in row.tags.split(",") if t)
        self.app.push_screen(TextInputDialog(
            "Tags (comma-separated)", f"{current}, " if current else "",
            "lower-case; spaces become dashes; an empty line removes all tags"), save)

    def action_edit_notes(self) -> None:
        row = self.list.current
        if row is None:
            return
        item = core.get(self.store, row.id)

        def save(text: str | None) -> None:
            if text is not None and self._change(row.id, f"notes of #{row.id}", notes=text):
                self._show_detail()

        self.app.push_screen(TextInputDialog("Notes", item.notes or ""), save)

    def action_undo(self) -> None:
        step = self.history.last
        if step is None:
            self.say("nothing to undo")
            return
        result = self.attempt(self.history.undo)
        if result is None:
            return
        step, restored = result
        kept = len(step) - restored
        note = f" ({kept} edited since: left as they are)" if kept else ""
        self.say(f"undone: {step.label}{note}")
        if len(step) == 1:
            row = core.row_of(self.store, step.ids[0])
            if row is not None and not self.list.jump_to(row.id):
                self._keep(row.id)
            if row is not None:
                self.list.update_row(row)
            self._show_detail()
        else:
            current = self.list.current
            self.reload(keep_id=current.id if current else None)
        self.refresh_counters()

    # ------------------------------------------------------------ marks and bulk actions

    def action_toggle_mark(self) -> None:
        row = self.list.current
        if row is None:
            return
        self.list.marked.symmetric_difference_update({row.id})
        self.list.refresh()
        self.list.move(1)
        self.render_counters()

    def action_clear_marks(self) -> None:
        self.list.marked.clear()
        self.list.refresh()
        self.render_counters()

    def _bulk_scope(self) -> tuple[str, int]:
        marked = len(self.list.marked)
        if marked:
            return f"the {marked:,} marked interaction{'s' * (marked != 1)}", marked
        total = self.list.total
        if total is None:
            total = core.count(self.store, self.filter)
        what = "every interaction" if self.filter.is_empty else (
            f"all {total:,} interactions matching {self.filter.describe()}")
        return (f"{what} ({total:,})" if self.filter.is_empty else what), total

    def action_bulk(self) -> None:
        scope, count = self._bulk_scope()
        if count == 0:
            self.say("nothing to act on: mark rows with space, or change the filter", "warning")
            return
        options = [(label, str(i)) for i, (label, _) in enumerate(BULK_ACTIONS)]
        self.app.push_screen(PickDialog(f"Bulk action on {scope}", options,
                                        "enter picks · esc cancels · ctrl+z undoes it after"),
                             lambda choice: self._bulk_chosen(choice, scope, count))

    def _bulk_chosen(self, choice: str | None, scope: str, count: int) -> None:
        if choice is None:
            return
        label, values = BULK_ACTIONS[int(choice)]
        if values is None:
            self.app.push_screen(TextInputDialog(f"Tag to add to {scope}"),
                                 lambda text: text and text.strip() and self._bulk_confirm(
                                     f"add the tag {text.strip()!r} to", scope, count,
                                     tags=[text]))
            return
        self._bulk_confirm(label, scope, count, **values)

    def _bulk_confirm(self, verb: str, scope: str, count: int, **values) -> None:
        question = (f"{verb[0].upper()}{verb[1:]} {scope}?\n\n{count:,} interaction"
                    f"{'s' * (count != 1)} will change; ctrl+z undoes it as one step.")
        self.app.push_screen(ConfirmDialog(question, yes=f"{verb.split()[0].capitalize()} "
                                                         f"{count:,}"),
                             lambda yes: yes and self._bulk_apply(verb, count, **values))

    def _bulk_apply(self, verb: str, count: int, **values) -> None:
        marked = sorted(self.list.marked)
        f = self.filter
        label = f"{verb} {'marked' if marked else f.describe()}"

        def run() -> EditStep:
            ids = marked or core.ids_matching(self.store, f)
            if "tags" in values:
                return self.history.add_tags(ids, values["tags"], label)
            return self.history.change(ids, label, **values)

        def done(step: EditStep) -> None:
            self.say(f"{label}: {len(step):,} interactions changed (ctrl+z undoes it)")
            self.list.marked.clear()
            current = self.list.current
            self.reload(keep_id=current.id if current else None)
            self.refresh_counters()

        self.say(f"{label}: changing {count:,} interactions…")  # 100k rows take seconds
        self.gather(run, done, group="bulk", skip_if_busy=True)

    # ------------------------------------------------------------ finding

    def action_search(self) -> None:
        search = self.query_one("#search", Input)
        search.display = True
        search.value = self.filter.text
        search.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "search":
            return
        self.list.focus()
        self.apply_filter(self.filter.with_(text=event.value.strip()))
        event.input.display = bool(self.filter.text)

    def on_key(self, event) -> None:
        search = self.query_one("#search", Input)
        if event.key == "escape" and search.has_focus:
            event.stop()
            self.leave_search()

    def leave_search(self) -> None:
        self.query_one("#search", Input).display = bool(self.filter.text)
        self.list.focus()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # while typing a search the letter keys go to the field: the footer shows its keys only
        if self.is_mounted and self.query_one("#search", Input).has_focus:
            return action not in {b.action for b in self.BINDINGS}
        return True

    def _fetch_choices(self) -> None:
        """The models and sources seen, for the filter dialog's lists: a scan (1.4 s at 280k
        rows), so it runs in a worker and the dialog opens with the last answer."""
        def fetch():
            return (core.distinct_values(self.store, "model"),
                    core.distinct_values(self.store, "source"))

        def keep(choices) -> None:
            self._choices = choices
            if self._filters_wanted:
                self._filters_wanted = False
                self.action_filters()

        self.gather(fetch, keep, group="choices")

    def action_filters(self) -> None:
        if self._choices is None:  # first use, still scanning: open when the lists are known
            self._filters_wanted = True
            self._fetch_choices()
            return
        if not self.is_current:
            return

        def apply(new: InteractionFilter | None) -> None:
            if new is not None:
                self.apply_filter(new)

        self.app.push_screen(FilterDialog(self.filter, *self._choices), apply)
        self._fetch_choices()  # fresh lists for the next time

    def apply_filter(self, new: InteractionFilter) -> None:
        """Show what `new` keeps; the selected row stays selected when it still matches."""
        if new == self.filter:
            return
        current = self.list.current
        self.filter = new
        self.ui_state.set(FILTER_KEY, new.to_dict())
        self.query_one("#search", Input).display = bool(new.text)
        self.reload(keep_id=current.id if current else None)
        self.refresh_counters()

    def action_clear_filters(self) -> None:
        self.apply_filter(InteractionFilter())

    def action_next_unrated(self) -> None:
        row = self.list.current
        found = core.next_unrated(self.store, self.filter, row.key if row else None)
        if found is None:
            self.say("no unrated interaction matches the filter — all done")
            return
        self.list.show_from([found])
        if self.list.position is None:
            self._count_position()

    def _count_position(self) -> None:
        row, f = self.list.current, self.filter
        if row is None:
            return

        def counted(pos: int) -> None:
            if f == self.filter:
                self.list.set_position(row.id, pos)
                self._update_status()

        self.gather(lambda: core.position_of(self.store, f, row.key), counted, group="position",
                    skip_if_busy=False)

    def action_reload(self) -> None:
        current = self.list.current
        self.reload(keep_id=current.id if current else None)
        self.refresh_counters()

    # ------------------------------------------------------------ the judge (issue 13)

    def on_unmount(self) -> None:
        if self._judge_cancel is not None:
            self._judge_cancel.set()

    def action_judge(self) -> None:
        """Judge the unrated interactions of the filter in a worker; J again cancels."""
        if self._judge_cancel is not None:
            self._judge_cancel.set()
            self._judge_line = "   [b]judge:[/] cancelling…"
            self.render_counters()
            return
        default = self.recall("interactions.judge", self.settings.extra.get("judge") or "",
                              str)
        self.app.push_screen(TextInputDialog(
            f"Judge the unrated interactions of: {self.filter.describe()} — with the model",
            default, "an Ollama model or a registered model; judged ones are cached"),
            self._judge_with)

    def _judge_with(self, name: str | None) -> None:
        if not name or not name.strip():
            return
        from ftui.judge.run import judge_interactions, select_ids

        name = name.strip()
        self.remember("interactions.judge", name)
        cancel = self._judge_cancel = threading.Event()
        f, store, settings = self.filter, self.store, self.settings
        self._judge_line = f"   [b]judge:[/] starting {escape(name)}…"
        self.render_counters()

        def progress(p) -> None:
            self._from_thread(self._judge_progress, cancel, p)

        def run():
            ids = select_ids(store, f)
            return judge_interactions(store, ids, judge=name, home=settings.home,
                                      host=settings.ollama_host, on_progress=progress,
                                      cancel=cancel)

        def done(report) -> None:
            self._judge_finished(cancel)
            cut = f", cancelled {report.cancelled}" if report.cancelled else ""
            self.say(f"judge {name}: judged {report.judged}, cached {report.cached}, failed "
                     f"{report.failed}{cut} in {report.seconds:.1f} s",
                     "warning" if report.failed else "information")
            self._show_detail()

        self.gather(run, done, group="judge")
        # a failed run (Ollama down, unknown model) is reported by gather; this clears the line
        self._judge_timer = self.set_interval(0.5, lambda: self._judge_watch(cancel))

    def _judge_watch(self, cancel: threading.Event) -> None:
        if "judge" not in self._busy_groups and self._judge_cancel is cancel:
            self._judge_finished(cancel)

    def _judge_progress(self, cancel: threading.Event, p) -> None:
        if self._judge_cancel is not cancel:
            return
        failed = f", failed {p.failed}" if p.failed else ""
        self._judge_line = (f"   [b]judge:[/] {p.done:,}/{p.total:,} (cached {p.cached:,}"
                            f"{failed}) — J cancels")
        self.render_counters()

    def _judge_finished(self, cancel: threading.Event) -> None:
        if self._judge_cancel is cancel:
            self._judge_cancel = None
            self._judge_line = ""
            if self._judge_timer is not None:
                self._judge_timer.stop()
            self.render_counters()

    def action_accept_judge(self) -> None:
        """The judge's score becomes the rating, through the same edit as a key press (undo,
        experiment outcomes)."""
        row = self.list.current
        if row is None:
            return
        j = current_judgement(self.store, row.id)
        if j is None or j.status != "ok" or j.score is None:
            why = "its judgement failed" if j is not None else "it is not judged yet"
            self.say(f"no judge score for #{row.id}: {why} (J judges the unrated)", "warning")
            return
        self.action_rate(j.score)

    def action_toggle_disagree(self) -> None:
        self.apply_filter(self.filter.with_(judge_disagrees=not self.filter.judge_disagrees,
                                            unrated=False))

    def action_agreement(self) -> None:
        from ftui.judge.agreement import agreement, describe

        self.gather(lambda: describe(agreement(self.store)),
                    lambda text: self.app.push_screen(TextDialog("Judge vs people", text)),
                    group="agreement")
