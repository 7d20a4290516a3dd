"""The new-run form: presets, every run setting, and an estimate of steps, tokens and memory."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Select, Static

from ftui.errors import FtuiError
from ftui.telemetry import no_gpu_reason
from ftui.train.config import METHODS, PRESETS, RunConfig
from ftui.train.estimate import base_config, estimate, memory_need
from ftui.train.methods import check_method_fits

FORM_FIELDS = ("epochs", "max_steps", "batch_size", "grad_accum", "learning_rate", "lora_r",
               "lora_alpha", "max_seq_len", "eval_steps", "save_steps", "beta")
METHOD_FOR_KIND = {"sft": "sft", "preference": "dpo", "unpaired": "kto"}  # issue 12


def _kind(dataset) -> str:
    return dataset.spec.get("kind", "sft")


class NewRunDialog(ModalScreen[tuple[int, str, RunConfig, bool] | None]):
    """A form over the run config, with presets and an estimate of steps and tokens."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"),
                Binding("ctrl+s", "start", "Start", priority=True)]

    def __init__(self, datasets: list) -> None:
        super().__init__()
        self.datasets = datasets

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="new-run"):
            yield Label("New training run — ctrl+s starts, esc cancels", classes="dialog-title")
            with Horizontal(classes="form-row"):
                yield Label("preset", classes="form-label")
                yield Select([(k, k) for k in PRESETS], value=next(iter(PRESETS)), id="preset",
                             allow_blank=False, compact=True)
                yield Label("dataset", classes="form-label")
                yield Select([(f"{d.id} {d.name} ({d.examples})", d.id) for d in self.datasets],
                             value=self.datasets[0].id, allow_blank=False, id="dataset",
                             compact=True)
            with Horizontal(classes="form-row"):
                yield Label("base", classes="form-label")
                yield Input("tiny", id="base", compact=True,
                            placeholder="tiny, demo, a model folder, a .gguf, an HF id")
                yield Label("where", classes="form-label")
                yield Select([("in this app", "app"), ("background process", "detach")],
                             value="app", allow_blank=False, id="where", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("method", classes="form-label")
                yield Select([(m, m) for m in METHODS], id="method", allow_blank=False,
                             value=METHOD_FOR_KIND.get(_kind(self.datasets[0]), "sft"),
                             compact=True)
            defaults = RunConfig()
            for i in range(0, len(FORM_FIELDS), 2):
                with Horizontal(classes="form-row"):
                    for name in FORM_FIELDS[i:i + 2]:
                        yield Label(name.replace("_", " "), classes="form-label")
                        yield Input(str(getattr(defaults, name)), id=f"f_{name}", compact=True)
            yield Static("", id="estimate")
            yield Static("", id="new-run-error", classes="dialog-error")

    def on_mount(self) -> None:
        self._apply_preset(next(iter(PRESETS)))
        self.query_one("#preset", Select).focus()  # opens on its first field

    def _apply_preset(self, name: str) -> None:
        preset = PRESETS[name]
        if preset["base"]:
            self.query_one("#base", Input).value = preset["base"]
        config = RunConfig().with_(**preset["config"])
        for field in FORM_FIELDS:
            self.query_one(f"#f_{field}", Input).value = str(getattr(config, field))
        self._update_estimate()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset":
            self._apply_preset(str(event.value))
        elif event.select.id == "dataset":  # the method that fits the version's kind
            ds = next((d for d in self.datasets if d.id == event.value), None)
            if ds is not None:
                self.query_one("#method", Select).value = METHOD_FOR_KIND.get(_kind(ds), "sft")
            self._update_estimate()
        else:
            self._update_estimate()

    def on_input_changed(self, _event: Input.Changed) -> None:
        self._update_estimate()

    def config(self) -> RunConfig:
        values = {f: self.query_one(f"#f_{f}", Input).value for f in FORM_FIELDS}
        values["method"] = str(self.query_one("#method", Select).value)
        preset = PRESETS[str(self.query_one("#preset", Select).value)]["config"]
        config = RunConfig.from_dict({**preset, **values}).validate()
        ds = next((d for d in self.datasets
                   if d.id == self.query_one("#dataset", Select).value), None)
        if ds is not None:  # said in the form, not after the run is made
            check_method_fits(config.method, _kind(ds), ds.id)
        return config

    def _update_estimate(self) -> None:
        box = self.query_one("#estimate", Static)
        try:
            config = self.config()
            ds = next(d for d in self.datasets if d.id == self.query_one("#dataset", Select).value)
            est = estimate(ds, config)
        except (FtuiError, StopIteration) as err:
            box.update(Text(str(err), style="red"))
            return
        on_gpu = no_gpu_reason() is None
        gpu = "" if on_gpu else "\nno NVIDIA GPU here: trains on the CPU"
        memory = ""
        base = self.query_one("#base", Input).value.strip()
        base_cfg = base_config(base, self.app.settings.home) if base else None
        need = memory_need(base_cfg, config, "bf16" if on_gpu else "fp32") if base_cfg else None
        if need is not None:
            memory = (f"\nmemory ≈ {need.total_gib:.1f} GiB {'on the GPU' if on_gpu else 'of RAM'}"
                      f" (weights {need.weights_gib:.1f}, adapter+optimizer "
                      f"{need.adapter_gib:.2f}, activations {need.activations_gib:.1f}; "
                      f"{need.params / 1e6:,.0f}M parameters)")
        box.update(f"{est.train_examples} train examples · {est.steps_per_epoch} steps/epoch · "
                   f"{est.total_steps} steps · {est.tokens_per_epoch:,} tokens/epoch"
                   f"{'' if est.tokens_exact else ' (approx.)'}{memory}{gpu}")

    def action_start(self) -> None:
        try:
            config = self.config()
        except FtuiError as err:
            self.query_one("#new-run-error", Static).update(str(err))
            return
        base = self.query_one("#base", Input).value.strip()
        if not base:
            self.query_one("#new-run-error", Static).update("give a base model")
            return
        self.dismiss((int(self.query_one("#dataset", Select).value), base, config,
                      self.query_one("#where", Select).value == "detach"))

    def action_cancel(self) -> None:
        self.dismiss(None)


