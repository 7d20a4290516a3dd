"""A stand-in for NVML (nvidia-ml-py's `pynvml`) for machines without an NVIDIA GPU: the GPUs
it reports come from FTUI_FAKE_NVML, a JSON list of {"name": ..., "memory_mb": ...}. Put this
folder first on sys.path (or PYTHONPATH for a subprocess) and ftui.telemetry reads it through
the same calls it makes on a real driver."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

NVML_TEMPERATURE_GPU = 0


class NVMLError(Exception):
    pass


def _gpus() -> list[dict]:
    return json.loads(os.environ.get("FTUI_FAKE_NVML", "[]"))


def nvmlInit() -> None:  # noqa: N802 - NVML's names
    if not _gpus():
        raise NVMLError("no fake GPUs")


def nvmlDeviceGetCount() -> int:  # noqa: N802
    return len(_gpus())


def nvmlDeviceGetHandleByIndex(i: int) -> dict:  # noqa: N802
    return _gpus()[i]


def nvmlDeviceGetName(h: dict) -> str:  # noqa: N802
    return h["name"]


def nvmlDeviceGetMemoryInfo(h: dict):  # noqa: N802
    total = int(h["memory_mb"]) * 2**20
    return SimpleNamespace(total=total, used=0, free=total)


def nvmlDeviceGetUtilizationRates(h: dict):  # noqa: N802
    return SimpleNamespace(gpu=0, memory=0)


def nvmlDeviceGetComputeRunningProcesses(h: dict) -> list:  # noqa: N802
    return []


def nvmlDeviceGetTemperature(h: dict, sensor: int) -> int:  # noqa: N802
    raise NVMLError("not supported")


def nvmlDeviceGetPowerUsage(h: dict) -> int:  # noqa: N802
    raise NVMLError("not supported")


def nvmlDeviceGetEnforcedPowerLimit(h: dict) -> int:  # noqa: N802
    raise NVMLError("not supported")
