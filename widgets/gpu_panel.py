"""The GPU / host panel of the Training screen: figures gathered off the UI thread, drawn here."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.widgets import Static

from ftui.fmt import figure


@dataclass
class HostReading:
    gpus: list = field(default_factory=list)  # ftui.telemetry.GpuStat
    host: object | None = None  # ftui.telemetry.HostStat
    gpu_missing: bool = False


def read_host() -> HostReading:
    """Blocking (NVML, psutil): call from a worker thread."""
    from ftui.telemetry import gpu_stats, host_stats, no_gpu_reason

    return HostReading(gpus=gpu_stats(), host=host_stats(), gpu_missing=no_gpu_reason() is not None)


def _na(value, unit: str = "", spec: str = ",.0f") -> str:
    return "n/a" if value is None else f"{value:{spec}}{unit}"


class GpuPanel(Static):
    DEFAULT_CSS = "GpuPanel { height: auto; }"

    def on_mount(self) -> None:
        self.border_title = "GPU / host"

    def show(self, reading: HostReading) -> None:
        text = Text()
        if reading.gpu_missing:
            # the NVML exception name means nothing to the operator
            text.append("GPU n/a (CPU only)\n", style="yellow")
        for g in reading.gpus:
            text.append(f"GPU{g.index} {g.name}\n", style="bold")
            text.append(f" util {_na(g.util_pct, '%')}  mem {_na(g.mem_used_mb)}/"
                        f"{_na(g.mem_total_mb)} MB  {_na(g.temp_c, '°C')}\n")
            text.append(f" power {_na(g.power_w)}/{_na(g.power_limit_w, ' W')}  "
                        f"this app {_na(g.this_process_mb, ' MB')}\n")
        h = reading.host
        if h is not None:
            text.append(f"CPU {h.cpu_pct:.0f}%  RAM {h.ram_used_mb / 1024:.1f}/"
                        f"{h.ram_total_mb / 1024:.1f} GiB\n")
            text.append(f"this app {figure(round(h.process_rss_mb))} MB")
        self.update(text)
