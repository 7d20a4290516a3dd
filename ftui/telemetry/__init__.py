"""GPU figures through NVML (pynvml) and host figures through psutil.

NVML is probed once: with no NVIDIA driver `nvmlInit` fails and every later call says "no NVIDIA
GPU" at no cost. Any single NVML figure may be unsupported on a given card: that figure is None
("n/a"), never an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil

_NVML: bool | None = None
_NVML_REASON = ""


@dataclass
class GpuStat:
    index: int
    name: str
    util_pct: float | None
    mem_used_mb: float | None
    mem_total_mb: float | None
    temp_c: float | None
    power_w: float | None
    power_limit_w: float | None
    this_process_mb: float | None


@dataclass
class HostStat:
    cpu_pct: float
    ram_used_mb: float
    ram_total_mb: float
    process_rss_mb: float


def _nvml():
    global _NVML, _NVML_REASON
    if _NVML is None:
        try:
            import pynvml

            pynvml.nvmlInit()
            _NVML = True
        except Exception as err:  # NVMLError_LibraryNotFound, DriverNotLoaded, ImportError...
            _NVML = False
            _NVML_REASON = type(err).__name__
    if not _NVML:
        return None
    import pynvml

    return pynvml


def no_gpu_reason() -> str | None:
    """None when NVML works; otherwise why there are no GPU figures, in words."""
    return None if _nvml() else f"no NVIDIA GPU ({_NVML_REASON or 'NVML unavailable'})"


def _safe(call, *args, scale: float = 1.0):
    try:
        value = call(*args)
    except Exception:  # NVMLError_NotSupported and friends: this figure is n/a
        return None
    return value / scale if isinstance(value, int | float) else value


def gpu_stats(pid: int | None = None) -> list[GpuStat]:
    nv = _nvml()
    if nv is None:
        return []
    pid = pid or os.getpid()
    out = []
    for i in range(int(_safe(nv.nvmlDeviceGetCount) or 0)):  # _safe returns a float
        h = nv.nvmlDeviceGetHandleByIndex(i)
        util = _safe(nv.nvmlDeviceGetUtilizationRates, h)
        mem = _safe(nv.nvmlDeviceGetMemoryInfo, h)
        procs = _safe(nv.nvmlDeviceGetComputeRunningProcesses, h) or []
        mine = [p.usedGpuMemory for p in procs if p.pid == pid and p.usedGpuMemory is not None]
        name = _safe(nv.nvmlDeviceGetName, h) or f"GPU {i}"
        out.append(GpuStat(
            index=i, name=name.decode() if isinstance(name, bytes) else str(name),
            util_pct=float(util.gpu) if util is not None else None,
            mem_used_mb=mem.used / 2**20 if mem is not None else None,
            mem_total_mb=mem.total / 2**20 if mem is not None else None,
            temp_c=_safe(nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU),
            power_w=_safe(nv.nvmlDeviceGetPowerUsage, h, scale=1000.0),
            power_limit_w=_safe(nv.nvmlDeviceGetEnforcedPowerLimit, h, scale=1000.0),
            this_process_mb=sum(mine) / 2**20 if mine else None,
        ))
    return out


def host_stats() -> HostStat:
    vm = psutil.virtual_memory()
    return HostStat(cpu_pct=psutil.cpu_percent(interval=None), ram_used_mb=vm.used / 2**20,
                    ram_total_mb=vm.total / 2**20,
                    process_rss_mb=psutil.Process().memory_info().rss / 2**20)
