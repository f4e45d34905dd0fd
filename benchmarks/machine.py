"""What the machine was doing while a benchmark ran: shared by the benchmark scripts."""

from __future__ import annotations

import os
from pathlib import Path


def process_age_s() -> float | None:
    """Seconds since this process started, imports included (Linux /proc; None elsewhere)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def load_text() -> str:
    """Load average, and Linux CPU pressure: other processes competing for the CPUs."""
    try:
        text = ", ".join(f"{v:.2f}" for v in os.getloadavg()) + f" on {os.cpu_count()} CPUs"
    except OSError:
        text = "unknown"
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0].split()
        text += "; CPU pressure " + " ".join(f for f in some[1:3])
    except (OSError, IndexError):
        pass
    return text
