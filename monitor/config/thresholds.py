"""The alert settings, derived from the alert policy's own `PolicyConfig`.

Every `PolicyConfig` field declared with `setting(...)` (`monitor.base.settings`) becomes a key
of `[alerts]`, and of `[[accounts]]` when an account may override it: its name (`_ms` fields are
given in seconds, `dwell_ms` → `dwell_s`), type, default and bounds come from the declaration.
Bounds with a `what` or a `message` are checked here with that message; plain bounds are the
validation library's (`Field(gt=0, le=1)`). The three levels are the `levels` list (`[alerts]`
and per account). So a new threshold is a field of `PolicyConfig` and a commented key in
config/example.toml (its description in the reference), nothing else.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field, ValidationInfo, create_model, field_validator

from monitor.alerts.policy_config import PolicyConfig
from monitor.base.settings import Setting, setting_of
from monitor.config.checking import check_setting

#: The default levels [warning, critical, emergency], from the policy.
DEFAULT_LEVELS: tuple[float, float, float] = PolicyConfig().lines
_LEVEL_FIELDS = ("warning", "critical", "emergency")
_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Threshold:
    """One configurable `PolicyConfig` field as the configuration offers it."""

    #: The `PolicyConfig` field.
    field: str
    #: The configuration key (`dwell_s` for `dwell_ms`).
    key: str
    #: Whether the key is in seconds and the field in milliseconds.
    seconds: bool
    #: The key's type (float for a duration, else the field's own).
    kind: type
    #: The default, in the key's units.
    default: Any
    bounds: Setting

    @property
    def own_message(self) -> bool:
        """Whether the bounds are checked with our message rather than the library's."""
        return bool(self.bounds.what or self.bounds.message)

    def policy_value(self, value: Any) -> Any:
        """`value` of the key as the policy takes it (seconds → ms)."""
        return round(value * 1000) if self.seconds else value


def _thresholds() -> tuple[Threshold, ...]:
    hints = typing.get_type_hints(PolicyConfig)
    found: list[Threshold] = []
    for field in dataclasses.fields(PolicyConfig):
        bounds = setting_of(field)
        if bounds is None:
            continue
        seconds = field.name.endswith("_ms")
        key = field.name[:-3] + "_s" if seconds else field.name
        default: Any = field.default
        if seconds:
            default = default / 1000
        kind = float if seconds else hints[field.name]
        found.append(Threshold(field.name, key, seconds, kind, default, bounds))
    return tuple(found)


#: The configurable fields of the policy, in `PolicyConfig`'s order.
THRESHOLDS = _thresholds()
_BY_KEY = {t.key: t for t in THRESHOLDS}


def _number(value: float | None) -> float | None:
    """1.0 → 1 (so bounds read `≤ 1`, as written)."""
    return int(value) if value is not None and float(value).is_integer() else value


def _annotation(threshold: Threshold, optional: bool) -> Any:
    bounds = threshold.bounds
    limits: dict[str, Any] = {
        name: _number(getattr(bounds, name))
        for name in ("gt", "ge", "lt", "le")
        if getattr(bounds, name) is not None
    }
    if threshold.own_message:  # carried for the reference (as written), checked by `_check`
        kind = threshold.kind | None if optional else threshold.kind
        return _annotated(kind, dataclasses.replace(bounds, **limits))
    constrained = _annotated(threshold.kind, Field(**limits))
    return constrained | None if optional else constrained


def _annotated(kind: Any, metadata: object) -> Any:
    """`Annotated[kind, metadata]` for a type known only at run time."""
    return Annotated[kind, metadata]


def _check(cls: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
    if value is None:
        return None
    threshold = _BY_KEY[info.field_name or ""]
    return check_setting(value, threshold.bounds, threshold.seconds)


def with_thresholds(base: type[_M], name: str, per_account: bool) -> type[_M]:
    """`base` with a key per threshold after its own fields: every threshold with its default
    (`[alerts]`), or those an account may override, optional (`[[accounts]]`)."""
    chosen = [t for t in THRESHOLDS if t.bounds.per_account or not per_account]
    fields: dict[str, Any] = {
        t.key: (_annotation(t, per_account), None if per_account else t.default) for t in chosen
    }
    checked = [t.key for t in chosen if t.own_message]
    validators = {"_thresholds": field_validator(*checked)(_check)} if checked else {}
    return create_model(
        name,
        __base__=base,
        __module__=base.__module__,
        __doc__=base.__doc__,
        __validators__=validators,
        **fields,
    )


def policy_values(
    alerts: BaseModel, alert_levels: list[float], account: BaseModel, levels: list[float] | None
) -> dict[str, Any]:
    """`PolicyConfig`'s arguments for `account`: its `levels` (else `[alerts]`'s `alert_levels`)
    and every threshold, the account's own value where it overrides `[alerts]`, seconds → ms."""
    values: dict[str, Any] = dict(zip(_LEVEL_FIELDS, levels or alert_levels, strict=True))
    for threshold in THRESHOLDS:
        value = getattr(account, threshold.key, None) if threshold.bounds.per_account else None
        if value is None:
            value = getattr(alerts, threshold.key)
        values[threshold.field] = threshold.policy_value(value)
    return values
