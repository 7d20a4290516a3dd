"""Arena: both models of an experiment answer the same prompt side by side, names hidden and
sides drawn at random per prompt; the operator votes. Names show after the vote.

J lets a judge model vote on the same two answers (asked in both orders, a tie when they
disagree), recorded as `judge:<model>` and kept apart from people's votes; its choice shows
only after the operator's own vote, so it cannot sway it."""

from __future__ import annotations

from ftui.screens.base import FtuiScreen
from ftui.screens.common import rating_bindings
from ftui.screens.dialogs import PickDialog, TextInputDialog
from ftui.widgets.footer import KeyFooter
from rich.console import Group
from rich.markdown import Markdown
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Static

from ftui import ab
from ftui.ab import arena
from ftui.errors import FtuiError


class ArenaScreen(FtuiScreen):
    BINDINGS = [
        Binding("left,h", "vote('left')", "Left better"),
        Binding("right,l", "vote('right')", "Right better"),
        Binding("t", "vote('tie')", "Tie"),
        Binding("b", "vote('both_bad')", "Both bad"),
        Binding("s", "skip", "Skip"),
        Binding("J", "judge_vote", "Judge votes"),
        Binding("tab", "switch_side", "Rate side", show=False),
        *rating_bindings(),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, experiment_id: int) -> None:
        super().__init__()
        self.exp = None
        self.experiment_id = experiment_id
        self.prompts: list[list[dict]] = []
        self.typed = False
        self.index = -1
        self.left = "A"
        self.answers = {"A": "", "B": ""}
        self.ratings: dict[str, int | None] = {"A": None, "B": None}
        self.rating_side = "left"
        self.ready = False
        self.failed: set[str] = set()  # arms whose answer is an error or empty: no vote counts
        self.votes = 0
        self.judge_votes = 0  # this session's, recorded as judge:<model>
        self.asked = 0  # which prompt is on screen (a judge's late answer names its own)
        self.judge_said: dict[int, str] = {}  # prompt -> the judge's choice, shown after ours

    def compose(self) -> ComposeResult:
        yield Static("", id="arena-head")
        with Horizontal(id="arena-sides"):
            with VerticalScroll(id="side-left"):
                yield Static("", id="answer-left")
            with VerticalScroll(id="side-right"):
                yield Static("", id="answer-right")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.exp = ab.get_experiment(self.store, self.experiment_id)
        options = [("logged prompts (newest first)", "logged"), ("type each prompt", "typed")]
        from ftui.curate import list_datasets

        options[:0] = [(f"validation split of dataset {d.id} {d.name}", f"dataset:{d.id}")
                       for d in list_datasets(self.store)[:5]]
        self.app.push_screen(PickDialog("Arena: where do the prompts come from?", options),
                             self._start)

    def _start(self, source: str | None) -> None:
        if source is None:
            self.app.pop_screen()
            return
        try:
            if source == "typed":
                self.typed = True
            elif source == "logged":
                self.prompts = arena.logged_prompts(self.store)
            else:
                self.prompts = arena.dataset_prompts(self.store, int(source.split(":")[1]))
        except FtuiError as err:
            self.notify_error(err)
            self.app.pop_screen()
            return
        self.next_prompt()

    # ------------------------------------------------------------ flow

    def next_prompt(self) -> None:
        if self.typed:
            self.app.push_screen(TextInputDialog("Prompt for both models", enter="sends",
                                                 esc="ends the arena"),
                                 lambda text: self._ask([{"role": "user", "content": text}])
                                 if text else self.app.pop_screen())
            return
        self.index += 1
        if self.index >= len(self.prompts):
            self.say(f"no more prompts: {self.votes} vote(s) recorded")
            self.app.pop_screen()
            return
        self._ask(self.prompts[self.index])

    def _ask(self, messages: list[dict]) -> None:
        self.messages = messages
        self.left = arena.draw_left()
        self.answers = {"A": "", "B": ""}
        self.ratings = {"A": None, "B": None}
        self.ready = False
        self.failed = set()
        self.asked += 1
        prompt = next((m.get("content") for m in reversed(messages) if m["role"] == "user"), "")
        total = "typed" if self.typed else f"{self.index + 1}/{len(self.prompts)}"
        judged = (f" · judge votes {self.judge_votes} (kept apart from yours)"
                  if self.judge_votes else "")
        head = Text(f"arena · {self.exp.name} · prompt {total} · votes {self.votes}{judged}\n",
                    style="dim")
        head.append(str(prompt)[:600], style="bold")
        self.query_one("#arena-head", Static).update(head)
        self.redraw()
        self._generate(messages)

    def _side_arm(self, side: str) -> str:
        return self.left if side == "left" else ("B" if self.left == "A" else "A")

    def redraw(self) -> None:
        for side in ("left", "right"):
            arm = self._side_arm(side)
            rating = self.ratings[arm]
            title = f"{side}" + (f" · rated {rating}" if rating else "") + (
                " · (1-5 rates this side)" if side == self.rating_side and self.ready else "")
            pane = self.query_one(f"#side-{side}")
            pane.border_title = title
            empty = "(no answer)" if self.ready else "…"
            self.query_one(f"#answer-{side}", Static).update(
                Group(Markdown(self.answers[arm] if self.answers[arm].strip() else empty)))

    @work(thread=True, exclusive=True, group="arena")
    def _generate(self, messages: list[dict]) -> None:
        def stream(arm: str):
            def on_token(piece: str) -> None:
                self.answers[arm] += piece
                self.app.call_from_thread(self.redraw)
            return on_token

        try:
            a, b = arena.answer_pair(self.store, self.exp.model_a, self.exp.model_b, messages,
                                     home=self.app.settings.home,
                                     host=self.app.settings.ollama_host,
                                     on_token_a=stream("A"), on_token_b=stream("B"))
        except Exception as err:  # noqa: BLE001 - shown on screen, never a traceback
            a = b = FtuiError(f"{type(err).__name__}: {err}", "check both models load")
        failed = set()
        for arm, got in (("A", a), ("B", b)):
            self.answers[arm] = got.text if not isinstance(got, FtuiError) else f"(error: {got})"
            if isinstance(got, FtuiError) or not (got.text or "").strip():
                failed.add(arm)
        self.failed = failed
        self.ready = True
        self.app.call_from_thread(self.redraw)

    # ------------------------------------------------------------ keys

    def action_vote(self, choice: str) -> None:
        if not self.ready:
            self.say("wait for both answers", severity="warning")
            return
        if self.failed:  # a vote against an error or an empty answer says nothing about models
            self.say("one side failed: skip this prompt with s", severity="warning")
            return
        winner = {"left": self._side_arm("left"), "right": self._side_arm("right")}.get(
            choice, choice)
        arena.record_vote(self.store, model_a=self.exp.model_a, model_b=self.exp.model_b,
                          left=self.left, winner=winner, messages=self.messages,
                          answer_a=self.answers["A"], answer_b=self.answers["B"],
                          experiment_id=self.exp.id, rating_a=self.ratings["A"],
                          rating_b=self.ratings["B"])
        self.votes += 1
        names = {"A": self.exp.model_a, "B": self.exp.model_b}
        judge = self.judge_said.pop(self.asked, None)
        said = f"; the judge chose {self._as_side(judge)}" if judge else ""
        self.say(f"left was {names[self._side_arm('left')]}, right was "
                 f"{names[self._side_arm('right')]}{said}", timeout=4)
        self.next_prompt()

    def _as_side(self, winner: str) -> str:
        if winner in ("A", "B"):
            return "left" if self._side_arm("left") == winner else "right"
        return winner

    # ------------------------------------------------------------ the judge's vote

    def action_judge_vote(self) -> None:
        if not self.ready or self.failed:
            self.say("the judge votes on two finished answers", severity="warning")
            return
        if "arena-judge" in self._busy_groups:
            self.say("the judge is still voting", severity="warning")
            return
        default = self.recall("interactions.judge", self.settings.extra.get("judge") or "",
                              str)
        self.app.push_screen(TextInputDialog(
            "Judge model for this prompt (votes in both orders):", default,
            "an Ollama model or a registered model"), self._judge_with)

    def _judge_with(self, name: str | None) -> None:
        name = (name or "").strip()
        if not name:
            return
        self.remember("interactions.judge", name)
        asked, messages, answers = self.asked, self.messages, dict(self.answers)
        store, settings, exp_id = self.store, self.settings, self.exp.id

        def run():
            from ftui.judge.arena import vote_on_answers
            from ftui.judge.run import resolve_judge

            judge = resolve_judge(store, name, host=settings.ollama_host, home=settings.home)
            return vote_on_answers(store, exp_id, judge, messages, answers["A"], answers["B"],
                                   host=settings.ollama_host, home=settings.home)

        def done(verdict) -> None:
            if verdict.winner == "failed":
                self.say(f"the judge {name} could not vote: {verdict.error}", severity="warning")
                return
            self.judge_votes += 1
            if asked == self.asked:  # still on screen: the choice waits for the operator's vote
                self.judge_said[asked] = verdict.winner
                self.say(f"judge:{name} voted; its choice shows after yours")
            else:
                self.say(f"judge:{name} voted {verdict.winner} on an earlier prompt")

        self.say(f"asking judge:{name} in both orders…")
        self.gather(run, done, group="arena-judge")

    def action_skip(self) -> None:
        self.next_prompt()

    def action_switch_side(self) -> None:
        self.rating_side = "right" if self.rating_side == "left" else "left"
        self.redraw()

    def action_rate(self, rating: int) -> None:
        if self.ready:
            self.ratings[self._side_arm(self.rating_side)] = rating
            self.redraw()
