"""What a config value may be: a type and a range or a set of names (see config.SPECS).

Kept apart from config.py (and free of gan_jax imports) so that a model family or a game
can declare the keys of its own sub-config next to its code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class Spec:
  """What one config value may be: its type and its range or its set of names.

  `low`/`high` bound numbers (inclusive unless `open_low`/`open_high`); `choices` is a
  callable so that registries filled at import time are read when validating.
  """

  kind: type  # int, float, bool or str
  low: float | None = None
  high: float | None = None
  open_low: bool = False
  open_high: bool = False
  choices: Callable[[], Sequence[Any]] | None = None

  def problem(self, key: str, value: Any) -> str | None:
    """Why `value` does not fit key `key` (one line), or None."""
    if not self.type_ok(value):
      return f"{key} must be {self.describe()}, got {value!r} ({type(value).__name__})"
    if self.choices is not None and value not in self.choices():
      return f"unknown {key} {value!r}; valid: {', '.join(map(str, self.choices()))}"
    if self.low is not None and (value <= self.low if self.open_low else value < self.low):
      return f"{key} must be {self.describe()}, got {value!r}"
    if self.high is not None and (value >= self.high if self.open_high else value > self.high):
      return f"{key} must be {self.describe()}, got {value!r}"
    return None

  def type_ok(self, value: Any) -> bool:
    if self.kind is float:  # an int is a fine float; a bool is neither
      return isinstance(value, (int, float)) and not isinstance(value, bool)
    if self.kind is int:
      return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, self.kind)

  def describe(self) -> str:
    what = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[self.kind]
    if self.choices is not None:
      return f"one of {', '.join(map(str, self.choices()))}"
    bounds = []
    if self.low is not None:
      bounds.append(f"{'>' if self.open_low else '>='} {self.low:g}")
    if self.high is not None:
      bounds.append(f"{'<' if self.open_high else '<='} {self.high:g}")
    return what + (" " + " and ".join(bounds) if bounds else "")


def integer(low: int | None = None, high: int | None = None) -> Spec:
  return Spec(int, low=low, high=high)


def number(low=None, high=None, *, open_low: bool = False, open_high: bool = False) -> Spec:
  return Spec(float, low=low, high=high, open_low=open_low, open_high=open_high)


def names(choices: Callable[[], Sequence[Any]]) -> Spec:
  return Spec(str, choices=choices)


BOOL, STRING = Spec(bool), Spec(str)
POSITIVE, COUNT = integer(1), integer(0)
FRACTION = number(0.0, 1.0, open_high=True)  # decays and betas: [0, 1)
