"""The ftui application: one section (Textual mode) per area, F1-F8 to switch."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from functools import partial

from ftui.screens.autopilot import AutopilotScreen
from ftui.screens.base import FtuiScreen
from ftui.screens.datasets import DatasetsScreen
from ftui.screens.experiments import ExperimentsScreen
from ftui.screens.interactions import InteractionsScreen
from ftui.screens.models import ModelsScreen
from ftui.screens.monitoring import MonitoringScreen
from ftui.screens.playground import PlaygroundScreen
from ftui.screens.training import TrainingScreen
from ftui.widgets.section_bar import SECTIONS
from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input

from ftui.config import Settings
from ftui.logs import setup_logging
from ftui.resources import asset_path
from ftui.store import Store
from ftui.store.edits import EditHistory
from ftui.uistate import UiState

PREBUILD_AFTER_S = 1.0  # after the first paint, the sections not shown yet are built off screen
PREBUILD_GAP_S = 0.3  # one at a time, with a pause between: a key waits for one screen at most


class FtuiApp(App):
    TITLE = "ftui"
    NOTIFICATION_TIMEOUT = 3  # an info toast leaves soon (errors stay ERROR_TIMEOUT_S)
    CSS_PATH = str(asset_path("ftui.tcss"))
    MODES = {
        "interactions": InteractionsScreen,
        "datasets": DatasetsScreen,
        "training": TrainingScreen,
        "models": ModelsScreen,
        "playground": PlaygroundScreen,
        "experiments": ExperimentsScreen,
        "autopilot": AutopilotScreen,
        "monitoring": MonitoringScreen,
    }
    BINDINGS = [
        *(Binding(key.lower(), f"switch_mode('{mode}')", label, show=False)
          for mode, key, label in SECTIONS),
        Binding("ctrl+t", "toggle_dark", "Light/dark", show=False),
        # Screens on FtuiScreen bind `?` themselves; this serves the others.
        Binding("question_mark", "help", "Help", show=False),
        # in a field, ctrl+a selects all (Textual's Input moves to the line start: "300" typed
        # over "20" gave 30020); home still moves there. Other widgets keep their own ctrl+a.
        Binding("ctrl+a", "select_field", "Select all", show=False, priority=True),
    ]

    def __init__(self, store: Store, settings: Settings, prebuild: bool | None = None) -> None:
        super().__init__()
        # build the other sections in the background after the first paint (None: yes in a
        # terminal, no under run_test, where most tests visit one or two screens)
        self.prebuild = prebuild
        self._built_modes: set[str] = set()
        self._building: Screen | None = None
        self.store = store
        self.settings = settings
        self.training_worker = None
        self.log_file = setup_logging(settings.home)
        self.ui_state = UiState(settings.home)
        self.edit_history = EditHistory(store)  # ctrl+z in the screens that edit interactions
        self._restoring = True  # the theme set while starting is not a user's choice

    def notify(self, message: str, *, title: str = "", severity="information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Notifications show their text as is (`ftui[hf]` stays `ftui[hf]`): markup only when a
        caller asks for it."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def switch_mode(self, mode: str):
        if mode in self.MODES:
            self.ui_state.set("mode", mode)
            self._built_modes.add(mode)
        return super().switch_mode(mode)

    def watch_theme(self, theme: str) -> None:
        if not self._restoring:
            self.ui_state.set("theme", theme)

    def train_in_app(self, run_id: int) -> None:
        """Hand a queued run to the in-app worker thread (started on first use; one run at a
        time)."""
        if self.training_worker is None or not self.training_worker.is_alive():
            from ftui.train.worker import WorkerThread

            self.training_worker = WorkerThread(self.store, self.settings.home)
            self.training_worker.start()
        self.training_worker.submit(run_id)

    def on_mount(self) -> None:
        theme = self.ui_state.get("theme", kind=str)
        if theme in self.available_themes:
            self.theme = theme
        self._restoring = False
        mode = self.ui_state.get("mode", kind=str)
        self.switch_mode(mode if mode in self.MODES else "interactions")
        if self.prebuild if self.prebuild is not None else not self.is_headless:
            self.set_timer(PREBUILD_AFTER_S, self._prebuild_next)
        self._hung_up = False
        self.set_interval(2.0, self._check_terminal)

    def _prebuild_next(self) -> None:
        """Build the next section not shown yet off screen (composed and mounted; its timers
        stay paused and the focus stays where it is), so its first visit is a switch, not a
        0.5-2 s build: Textual styling a new screen's widgets is most of that time."""
        built = self._building
        if built is not None and not built.is_mounted:
            self.set_timer(0.1, self._prebuild_next)  # the previous one is still composing
            return
        if built is not None and not built.is_current:
            # its widgets were styled as they mounted: without this, its first show would
            # restyle every screen of the app again (Textual's check for a theme change)
            built._css_update_count = self._css_update_count
        pending = [m for m in self.MODES if m not in self._built_modes]
        if not pending:
            self._building = None
            return
        mode = pending[0]
        self._built_modes.add(mode)
        screen = self.MODES[mode]()
        self.install_screen(screen, f"section-{mode}")
        self.remove_mode(mode)  # not shown yet: the mode now names the installed screen
        self.add_mode(mode, f"section-{mode}")
        # Textual starts a mode's screen when the mode is first shown, and has no public call
        # to start one without showing it: this is that step of App._get_screen.
        self._register(self, screen)
        screen.post_message(events.Resize(self.size, self.size))  # its breakpoints, off screen
        self._building = screen
        self.set_timer(PREBUILD_GAP_S, self._prebuild_next)

    def _check_terminal(self) -> None:
        """When the terminal goes away (tmux killed, SSH dropped without SIGHUP reaching us),
        writes fail with EIO: stop like quit does (in-app runs keep a checkpoint) instead of
        spinning on a dead terminal."""
        try:
            os.write(sys.__stdout__.fileno(), b"")
        except (OSError, ValueError, AttributeError):
            if self._hung_up:
                return
            self._hung_up = True
            active = self._local_active_runs()
            if active:
                self._stop_training_and_quit(active)
            else:
                self.exit()

    def show_interactions(self, interaction_filter) -> None:
        """Jump to Interactions showing only what the filter keeps (e.g. a model's data)."""
        self.switch_mode("interactions")
        self.call_after_refresh(lambda: self.screen.apply_filter(interaction_filter))

    def open_playground(self, model_ref: str) -> None:
        self.switch_mode("playground")
        self.call_after_refresh(lambda: self.screen.choose_model(model_ref))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "select_field":  # otherwise the key goes on to the focused widget
            return isinstance(self.focused, Input)
        return super().check_action(action, parameters)

    def action_select_field(self) -> None:
        if isinstance(self.focused, Input):
            self.focused.select_all()

    def action_help(self) -> None:
        from ftui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_toggle_dark(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def action_toggle_advance(self) -> None:
        from dataclasses import replace

        self.settings = replace(self.settings, advance_on_rate=not self.settings.advance_on_rate)
        self.notify(f"advance after rating: {'on' if self.settings.advance_on_rate else 'off'}")
        if isinstance(self.screen, InteractionsScreen):
            self.screen.render_counters()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, key, label in SECTIONS:
            yield SystemCommand(f"Go to {label}", f"switch section ({key})",
                                partial(self.switch_mode, mode))
        yield SystemCommand("Toggle advance after rating",
                            "move to the next interaction after rating or accepting",
                            self.action_toggle_advance)
        yield SystemCommand("Toggle light/dark theme", "ctrl+t", self.action_toggle_dark)
        yield SystemCommand("Help: keys of this screen", "?, and a short guide to the loop",
                            screen.action_help if isinstance(screen, FtuiScreen)
                            else self.action_help)
        # Every key binding of the current screen is also a palette command.
        seen = set()
        for key, active in screen.active_bindings.items():
            binding = active.binding
            if not binding.description or binding.action in seen or active.node is self:
                continue
            seen.add(binding.action)
            yield SystemCommand(f"{binding.description}", f"key: {key}",
                                partial(active.node.run_action, binding.action))

    def _local_active_runs(self) -> list[int]:
        """Runs this app's worker thread is training now."""
        if self.training_worker is None or not self.training_worker.is_alive():
            return []
        from ftui.train.runs import ACTIVE, list_runs, worker_name

        me = worker_name()
        return [r.id for r in list_runs(self.store) if r.status in ACTIVE and r.worker == me]

    async def action_quit(self) -> None:
        active = self._local_active_runs()
        if not active:
            self.exit()
            return
        from ftui.screens.dialogs import ConfirmDialog

        names = ", ".join(str(i) for i in active)
        self.push_screen(ConfirmDialog(
            f"Run {names} is training inside this app.\n\nQuit anyway? It stops at the next "
            "step and keeps a checkpoint there; resume it later (F3, then r), or run it in a "
            "background process next time.", yes="Stop it and quit", no="Stay"),
            lambda yes: self._stop_training_and_quit(active) if yes else None)

    def _stop_training_and_quit(self, run_ids: list[int]) -> None:
        from ftui.train.runs import request_cancel

        for run_id in run_ids:
            request_cancel(self.store, run_id)
        self.training_worker.stop_event.set()
        self.notify("stopping the training run at the next step, then quitting…", timeout=30)
        self._exit_when_worker_stops()

    @work(thread=True, group="quit")
    def _exit_when_worker_stops(self) -> None:
        # torch must not be inside a step when the interpreter shuts down (it aborts).
        self.training_worker.join(timeout=300)
        self.call_from_thread(self.exit)

    def on_unmount(self) -> None:
        if self.training_worker is not None:
            self.training_worker.stop_event.set()  # a run in progress shows as interrupted
        self.store.close()
