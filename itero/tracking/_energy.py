"""Energy used by this process, between two samples, and which method measured it.

Three sources, the best available first:

- **RAPL** (``/sys/class/powercap/intel-rapl:N/energy_uj``, Intel and recent AMD CPUs on Linux, where readable):
  the CPU packages' energy counter. It counts the whole machine, so a run is charged its process's share of the
  machine's busy CPU time over the interval (from ``/proc/stat``); peers running beside it are not double counted.
- **NVML** (``pynvml``, NVIDIA GPUs): each GPU's total-energy counter, charged to this process when it has a
  compute context on that GPU.
- **TDP estimate** otherwise: CPU seconds × TDP / hardware threads — a busy thread draws its share of the CPU's
  thermal design power, CodeCarbon's CPU-load model. TDPs come from CodeCarbon's table; an unknown model uses
  CodeCarbon's default of 4 W per thread.

    >>> meter = EnergyMeter.detect()
    >>> a = meter.sample(); _ = sum(range(10**6)); b = meter.sample()
    >>> meter.joules(a, b) >= 0
    True
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itero.tracking import _codecarbon

logger = logging.getLogger("itero")

RAPL_ROOT = Path(os.environ.get("ITERO_RAPL_ROOT", "/sys/class/powercap"))
PROC_STAT = Path(os.environ.get("ITERO_PROC_STAT", "/proc/stat"))


@dataclass(frozen=True)
class Sample:
    """Counters at one instant: process CPU seconds, RAPL µJ per package, machine busy CPU seconds, GPU mJ."""

    cpu: float
    rapl: tuple[int, ...] = ()
    busy: float = 0.0
    gpu: tuple[int, ...] = ()


@dataclass(frozen=True)
class CpuPower:
    """The CPU's model, its TDP and where that figure came from (for the TDP estimate)."""

    model: str
    tdp_watts: float
    threads: int
    source: str

    @property
    def watts_per_thread(self) -> float:
        return self.tdp_watts / self.threads


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown"


@functools.lru_cache(maxsize=1)
def cpu_power() -> CpuPower:
    """This machine's CPU power for the TDP estimate, from CodeCarbon's table."""
    model = cpu_model()
    threads = os.cpu_count() or 1
    hit = _codecarbon.match_cpu(model)
    if hit is not None:
        return CpuPower(model, hit[1], threads, f"codecarbon cpu_power.csv: {hit[0]!r} {hit[1]:g} W")
    per = _codecarbon.DEFAULT_WATTS_PER_THREAD
    return CpuPower(model, per * threads, threads, f"codecarbon default {per:g} W per thread (model not in its table)")


class _Rapl:
    """Package-level RAPL counters under ``root`` (µJ, wrapping at ``max_energy_range_uj``)."""

    def __init__(self, root: Path) -> None:
        self.files: list[Path] = []
        self.ranges: list[int] = []
        if not root.is_dir():
            return
        for d in sorted(root.glob("intel-rapl:*")):
            if d.name.count(":") != 1:  # sub-domains (core, uncore, dram) are inside their package's count
                continue
            try:
                int((d / "energy_uj").read_text())
                self.ranges.append(int((d / "max_energy_range_uj").read_text()))
            except (OSError, ValueError):
                continue
            self.files.append(d / "energy_uj")

    def read(self) -> tuple[int, ...]:
        return tuple(int(f.read_text()) for f in self.files)

    def joules(self, a: tuple[int, ...], b: tuple[int, ...]) -> float:
        total = 0
        for x, y, wrap in zip(a, b, self.ranges, strict=False):
            total += y - x if y >= x else y + wrap - x
        return total / 1e6


def _busy_seconds() -> float:
    """CPU seconds all processes of the machine spent busy (``/proc/stat``; 0 where unavailable)."""
    try:
        with open(PROC_STAT, encoding="ascii") as f:
            fields = f.readline().split()
    except OSError:
        return 0.0
    values = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
    busy = sum(values) - values[3] - values[4]
    return busy / os.sysconf("SC_CLK_TCK")


@functools.lru_cache(maxsize=1)
def _nvml_module() -> Any:
    """pynvml, initialised once; None without the package, a driver or a GPU."""
    if sys.platform.startswith("linux") and not os.path.exists("/proc/driver/nvidia/version"):
        return None  # no NVIDIA driver loaded: skip importing pynvml (~10 ms)
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml
    except Exception:
        return None


def gpu_names() -> list[str]:
    """Names of the NVIDIA GPUs NVML sees (empty without NVML)."""
    nvml = _nvml_module()
    if nvml is None:
        return []
    try:
        out = []
        for i in range(nvml.nvmlDeviceGetCount()):
            n = nvml.nvmlDeviceGetName(nvml.nvmlDeviceGetHandleByIndex(i))
            out.append(n.decode() if isinstance(n, bytes) else str(n))
        return out
    except Exception:
        return []


class _Nvml:
    """NVIDIA GPUs' total-energy counters (mJ) through pynvml; empty when there is no GPU or driver."""

    def __init__(self, module: Any = None) -> None:
        self.handles: list[Any] = []
        self.names: list[str] = []
        try:
            pynvml = module if module is not None else _nvml_module()
            if pynvml is None:
                return
            for i in range(pynvml.nvmlDeviceGetCount()):
                h = pynvml.nvmlDeviceGetHandleByIndex(i)
                pynvml.nvmlDeviceGetTotalEnergyConsumption(h)  # raises on GPUs without the counter
                self.handles.append(h)
                name = pynvml.nvmlDeviceGetName(h)
                self.names.append(name.decode() if isinstance(name, bytes) else str(name))
            self._nvml: Any = pynvml
        except Exception:
            self.handles = []

    def read(self) -> tuple[int, ...]:
        return tuple(int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self.handles)

    def used_by_me(self, index: int) -> bool:
        try:
            procs = self._nvml.nvmlDeviceGetComputeRunningProcesses(self.handles[index])
        except Exception:
            return True  # cannot tell: charge the device
        return any(p.pid == os.getpid() for p in procs)


class EnergyMeter:
    """Measures the energy this process uses; ``method`` says how (e.g. ``"cpu=rapl;gpu=nvml"``)."""

    def __init__(self, rapl: _Rapl | None, nvml: _Nvml | None, power: CpuPower | None) -> None:
        self._rapl = rapl if rapl is not None and rapl.files else None
        self._nvml = nvml if nvml is not None and nvml.handles else None
        self._power = power
        parts = []
        if self._rapl is not None:
            parts.append("cpu=rapl")
        elif power is not None:
            parts.append(f"cpu=tdp-estimate:{power.watts_per_thread:.3g}W/thread")
        if self._nvml is not None:
            parts.append("gpu=nvml")
        self.method = ";".join(parts) or "off"

    @classmethod
    def detect(cls, enabled: bool = True) -> EnergyMeter:
        """The best meter this machine allows (``enabled=False``: a meter that reads 0, method ``"off"``)."""
        if not enabled:
            return cls(None, None, None)
        return _detected()

    @property
    def enabled(self) -> bool:
        return self.method != "off"

    def sample(self) -> Sample:
        cpu = time.process_time()
        if self._rapl is None and self._nvml is None:
            return Sample(cpu)
        return Sample(
            cpu,
            self._rapl.read() if self._rapl is not None else (),
            _busy_seconds() if self._rapl is not None else 0.0,
            self._nvml.read() if self._nvml is not None else (),
        )

    def joules(self, a: Sample, b: Sample) -> float:
        """Energy charged to this process between samples ``a`` and ``b`` (never negative)."""
        d_cpu = max(0.0, b.cpu - a.cpu)
        energy = 0.0
        if self._rapl is not None:
            d_busy = b.busy - a.busy
            share = 1.0 if d_busy <= 0 else min(1.0, d_cpu / d_busy)
            energy += self._rapl.joules(a.rapl, b.rapl) * share
        elif self._power is not None:
            energy += d_cpu * self._power.watts_per_thread
        if self._nvml is not None:
            for i, (x, y) in enumerate(zip(a.gpu, b.gpu, strict=False)):
                if y > x and self._nvml.used_by_me(i):
                    energy += (y - x) / 1e3
        return energy

    def describe(self) -> dict[str, Any]:
        """What the meter measures with, for the environment record."""
        out: dict[str, Any] = {"method": self.method}
        if self._power is not None:
            p = self._power
            out["cpu"] = {"model": p.model, "tdp_watts": p.tdp_watts, "threads": p.threads, "source": p.source}
        if self._rapl is not None:
            out["rapl_domains"] = [str(f.parent.name) for f in self._rapl.files]
        if self._nvml is not None:
            out["gpus"] = list(self._nvml.names)
        return out


@functools.lru_cache(maxsize=1)
def _detected() -> EnergyMeter:
    rapl = _Rapl(RAPL_ROOT)
    meter = EnergyMeter(rapl, _Nvml(), cpu_power())
    logger.debug("energy meter: %s", meter.method)
    return meter
