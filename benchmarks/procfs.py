"""Process figures from Linux's /proc: resident memory and CPU time of a process."""

from __future__ import annotations

import os
from pathlib import Path

#: Kernel clock ticks per second: the resolution of /proc CPU times.
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    """`field` of /proc/<pid>/status (VmRSS: resident now, VmHWM: peak) in MB (10⁶ bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            kib = int(line.split()[1])
            return kib * 1024 / 1e6
    raise RuntimeError(f"/proc/{pid}/status has no {field} line (not Linux?)")


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process (all its threads) from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces and parentheses: fields start after the last ')'.
    fields = stat.rpartition(")")[2].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / TICKS_PER_S
