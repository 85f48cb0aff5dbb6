"""A course's score scale, parsed once from its spec and shared by every command.

Specs: `0-5` (integers), `0-10 step 0.5` (or `0-10:0.5`), or ordered labels such as
`incorrect,partially_correct,correct` (worst first)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import click

from asag.errors import ScaleError

_RANGE = re.compile(
    r"^\s*(-?\d+(?:\.\d+)?)\s*(?:-|\.\.|to)\s*(-?\d+(?:\.\d+)?)\s*(?:(?:step|:|/)\s*(\d+(?:\.\d+)?))?\s*$"
)

MAX_VALUES = 101  # 0-100 in whole points, the widest scale a teacher scores on
_DECIMALS = 6  # values are written with at most this many decimal places


@dataclass(frozen=True)
class Scale:
    spec: str
    labels: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 0.0
    step: float = 1.0
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def parse(cls, spec: str) -> Scale:
        text = spec.strip()
        m = _RANGE.match(text)
        if m:
            low, high = float(m.group(1)), float(m.group(2))
            step = float(m.group(3)) if m.group(3) else 1.0
            if not all(map(math.isfinite, (low, high, step))) or high <= low or step <= 0:
                raise _unusable(spec)
            _check_size(spec, (high - low) / step + 1)
            if not _is_multiple(high - low, step):
                raise _unusable(spec)
            if any(abs(x - _tidy(x)) > 1e-9 * max(1.0, abs(x)) for x in (low, high, step)):
                raise ScaleError(
                    f"'{spec}' needs more than {_DECIMALS} decimal places; write its ends and "
                    f"step with at most {_DECIMALS}, e.g. '0-1 step 0.05'")
            scale = cls(spec=_canonical(low, high, step), low=low, high=high, step=step)
            if len(set(scale.values)) != len(scale.values):  # ends too large for a float step
                raise ScaleError(
                    f"'{spec}' has values a float cannot tell apart; use smaller numbers, "
                    "e.g. '0-100'")
            return scale
        labels = tuple(part.strip() for part in text.split(","))
        if len(labels) < 2 or any(not label for label in labels) or len(set(labels)) != len(labels):
            raise ScaleError(
                f"'{spec}' is neither a range such as '0-5' / '0-10 step 0.5' nor two or more "
                "distinct comma-separated labels such as 'incorrect,partially_correct,correct'")
        _check_size(spec, len(labels))
        return cls(spec=",".join(labels), labels=labels)

    @property
    def is_numeric(self) -> bool:
        return not self.labels

    @property
    def values(self) -> list:
        """Every value a teacher can give, lowest first."""
        if self.labels:
            return list(self.labels)
        n = round((self.high - self.low) / self.step)
        return [_tidy(self.low + i * self.step) for i in range(n + 1)]

    def coerce(self, value) -> float | str:
        """The value as it sits on the scale; ValueError says what is wrong."""
        text = value if isinstance(value, str) else str(value)
        cached = self._cache.get(text)
        if cached is None:  # scores repeat heavily: parse each distinct one once
            cached = self._cache[text] = self._coerce(text)
        return cached

    def _coerce(self, value: str) -> float | str:
        if self.labels:
            text = str(value).strip()
            if text not in self.labels:
                raise ValueError(f"'{value}' is not one of {', '.join(self.labels)}")
            return text
        try:
            number = float(str(value).strip().replace(",", "."))
        except ValueError:
            raise ValueError(f"'{value}' is not a number on the scale {self.spec}") from None
        if not (self.low - 1e-9 <= number <= self.high + 1e-9) or math.isnan(number):
            raise ValueError(f"{value} is outside the scale {self.spec}")
        if not _is_multiple(number - self.low, self.step):
            raise ValueError(
                f"{value} is not a step of {_tidy(self.step)} on the scale {self.spec}"
            )
        return _tidy(number)

    def index(self, value) -> int:
        """Position of a value on the scale (0 = lowest): the ordinal rank used by agreement."""
        v = self.coerce(value)
        if self.labels:
            return self.labels.index(v)
        return round((v - self.low) / self.step)

    def to_unit(self, value) -> float:
        """Numeric scales mapped to 0..1 (a regression target). Aggregated scores (a mean,
        the median of two teachers) may fall between steps, so only the range is enforced."""
        number = float(value)
        if not (self.low - 1e-9 <= number <= self.high + 1e-9):
            raise ValueError(f"{value} is outside the scale {self.spec}")
        return (number - self.low) / (self.high - self.low)

    def from_unit(self, x: float) -> float:
        """A regression output back onto the scale, clipped to it (not rounded to a step)."""
        return min(self.high, max(self.low, self.low + float(x) * (self.high - self.low)))

    def same_as(self, other: Scale | str) -> bool:
        """Whether `other` (a Scale, or a spec as a manifest stores it) is this scale: specs
        are compared in their canonical form, so '0 - 5' and '0-5:1' are '0-5'."""
        if not isinstance(other, Scale):
            try:
                other = Scale.parse(str(other))
            except ValueError:  # a damaged manifest's spec
                return False
        return other.spec == self.spec

    @property
    def unit(self) -> float:
        """One position on the scale in its own units: the step (numeric), 1 (labels, whose
        distances count positions)."""
        return self.step if self.is_numeric else 1

    def at(self, index):
        """The numeric value at a step index (an int, a float, a numpy array; NaN stays NaN):
        the inverse of `index`, for aggregates computed on indices."""
        return self.low + index * self.step

    def nearest_index(self, value):
        """The index of the step nearest a number on a numeric scale, clipped to the scale:
        a number gives an int, a numpy array an int64 array (ties to even, as round())."""
        last = len(self.values) - 1
        if getattr(value, "ndim", 0):  # an array (a numpy scalar is a number)
            import numpy as np

            pos = np.rint((np.asarray(value, dtype=np.float64) - self.low) / self.step)
            return np.clip(pos, 0, last).astype(np.int64)
        return min(last, max(0, round((float(value) - self.low) / self.step)))

    def nearest_step(self, value):
        """The step nearest a number on a numeric scale (clipped to it): what a regression
        output or an aggregate is shown and judged as. Arrays give float arrays."""
        index = self.nearest_index(value)
        if getattr(index, "ndim", 0):
            import numpy as np

            return np.asarray(self.values, dtype=np.float64)[index]
        return self.values[index]

    def gap(self, low_index, high_index):
        """How far apart two scores (as indices) are in scale units (positions on label
        scales). Numbers or numpy arrays."""
        return (high_index - low_index) * self.unit

    def too_far_apart(self, low_index, high_index, max_gap: float):
        """The disagreement rule (build-dataset's list, the review view): two scores further
        apart than `max_gap` scale units."""
        return self.gap(low_index, high_index) > max_gap + 1e-9

    def __str__(self) -> str:
        return self.spec


def _unusable(spec: str) -> ScaleError:
    return ScaleError(
        f"'{spec}' is not a usable range; write LOW-HIGH with HIGH > LOW and the step dividing "
        "the range, e.g. '0-5' or '0-10 step 0.5'")


def _check_size(spec: str, count: float) -> None:
    """A teacher picks one value per answer from radio buttons: a scale of 100,001 values made
    a 16 MB labelling config that every user's project list then downloaded."""
    if count > MAX_VALUES + 1e-6:
        many = f"{math.floor(count + 1e-6):,}" if math.isfinite(count) else "too many"
        raise ScaleError(
            f"'{spec}' has {many} values; a scale has at most {MAX_VALUES} (one choice per "
            "value on the teacher's screen): use a coarser step, e.g. '0-100' or "
            "'0-10 step 0.5'")


def _is_multiple(x: float, step: float) -> bool:
    q = x / step
    return abs(q - round(q)) < 1e-6


def _tidy(x: float) -> float:
    r = round(x, _DECIMALS)
    return int(r) if float(r).is_integer() else r


def _canonical(low: float, high: float, step: float) -> str:
    base = f"{_tidy(low)}-{_tidy(high)}"
    return base if step == 1 else f"{base} step {_tidy(step)}"


class ScaleParam(click.ParamType):
    name = "scale"

    def convert(self, value, param, ctx):
        if isinstance(value, Scale):
            return value
        try:
            return Scale.parse(str(value))
        except ScaleError as exc:
            self.fail(exc.message, param, ctx)


SCALE = ScaleParam()
