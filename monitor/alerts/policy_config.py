"""`PolicyConfig`: the thresholds and timings of one account's alert policy.

The fields declared with `setting(...)` are the configuration's `[alerts]` keys
(`monitor/config/thresholds.py` derives them from this class); adding a threshold is a field here
and its commented key in config/example.toml.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.base.settings import setting


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """Thresholds and timings of one account's policy (fractions of risk, milliseconds).

    A field declared with `setting(...)` is a key of the configuration's `[alerts]` table (and,
    with `per_account=True`, of `[[accounts]]`), in seconds for a `_ms` field (`dwell_ms` →
    `dwell_s`), bounded as declared (`monitor.base.settings`); its description is the comment
    above the key in config/example.toml. The three levels are the `levels` list."""

    warning: float = 0.70
    critical: float = 0.85
    emergency: float = 0.95
    hysteresis: float = setting(
        0.03,
        ge=0.0,
        lt=0.2,
        message="hysteresis must be in [0, 0.2) (a fraction of risk, e.g. 0.03)",
        per_account=True,
    )
    #: The upper bounds keep a typo (or 1e300) from switching a safety off: blind detection,
    #: repeats, dwell; the lower ones keep the millisecond timers above zero.
    stale_after_ms: int = setting(
        15_000,
        ge=1.0,
        le=3600.0,
        what="the staleness limit (a larger one would turn blind detection off)",
        per_account=True,
    )
    dwell_ms: int = setting(5_000, ge=0.0, le=3600.0, what="how long risk must stay below a line")
    repeat_ms: int = setting(60_000, ge=0.001, le=86_400.0, what="the emergency repeat interval")
    rapid_rise: float = setting(0.15, gt=0.0, le=1.0)
    rapid_window_ms: int = setting(600_000, ge=0.001, le=86_400.0, what="the rapid-rise window")
    drift_rel_tol: float = 0.02
    drift_abs_tol: float = 0.005
    exchange_dedup_ms: int = 300_000
    #: An emergency unacknowledged this long escalates (0: never).
    escalate_after_ms: int = setting(300_000, ge=0.0, le=86_400.0)

    def __post_init__(self) -> None:
        if not 0.0 < self.warning < self.critical < self.emergency:
            raise ValueError(
                f"alert levels must rise: warning {self.warning} < critical {self.critical}"
                f" < emergency {self.emergency}, all above 0"
            )
        if self.hysteresis < 0.0 or self.dwell_ms < 0 or self.repeat_ms <= 0:
            raise ValueError("hysteresis and dwell_ms must be >= 0 and repeat_ms > 0")
        if self.rapid_rise <= 0.0 or self.rapid_window_ms <= 0 or self.stale_after_ms <= 0:
            raise ValueError("rapid_rise, rapid_window_ms and stale_after_ms must be > 0")
        if self.escalate_after_ms < 0:
            raise ValueError("escalate_after_ms must be >= 0")

    @property
    def lines(self) -> tuple[float, float, float]:
        return (self.warning, self.critical, self.emergency)
