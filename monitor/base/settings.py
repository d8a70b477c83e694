"""How a field of a pure settings dataclass is offered in the configuration file.

A pure component (the alert policy's `PolicyConfig`) declares its tunable fields with
`setting(default, ...)`: the bounds in the configuration's units, what the value is (for the
message when it is out of bounds) and whether an account may override it. The configuration
(`monitor.config.thresholds`) builds its keys from these declarations, so a new threshold is
declared once, beside the code that uses it. A field whose name ends in `_ms` is given in
seconds under the key ending in `_s` (`dwell_ms` → `dwell_s`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

#: The key of a field's `Setting` in its dataclass field metadata.
SETTING = "setting"


@dataclass(frozen=True, slots=True)
class Setting:
    """The bounds (`gt`, `ge`, `lt`, `le`, in the configuration's units: seconds for a `_ms`
    field) and the messages of one configurable field."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    #: What the value is, for "WHAT: give seconds in [LOW, HIGH], not VALUE"; with neither this
    #: nor `message`, the bounds are checked with the validation library's own message.
    what: str = ""
    #: The whole message when the value is out of bounds (instead of one built from `what`).
    message: str = ""
    #: Whether an account (`[[accounts]]`) may override the service-wide value.
    per_account: bool = False

    def contains(self, value: float) -> bool:
        """Whether `value` (in the configuration's units) is within the bounds."""
        return not (
            (self.gt is not None and value <= self.gt)
            or (self.ge is not None and value < self.ge)
            or (self.lt is not None and value >= self.lt)
            or (self.le is not None and value > self.le)
        )

    def interval(self) -> str:
        """The bounds as an interval: `[1, 3600]`, `(0, 1]`, `[0, 0.2)`."""
        low = self.gt if self.gt is not None else self.ge
        high = self.lt if self.lt is not None else self.le
        left = "(" if self.gt is not None else "["
        right = ")" if self.lt is not None else "]"
        return f"{left}{_num(low, '-inf')}, {_num(high, 'inf')}{right}"


def _num(value: float | None, missing: str) -> str:
    return missing if value is None else f"{value:g}"


def setting(default: Any, **how: Any) -> Any:
    """A dataclass field with `default` and its `Setting(**how)` in the field's metadata."""
    return dataclasses.field(default=default, metadata={SETTING: Setting(**how)})


def setting_of(field: dataclasses.Field[Any]) -> Setting | None:
    """The `Setting` a dataclass field was declared with, or None (not configurable)."""
    found = field.metadata.get(SETTING)
    return found if isinstance(found, Setting) else None
