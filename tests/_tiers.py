"""The quick tier's share of a parametrized test: `pytest -m "not slow"` runs the values named
quick, the full suite runs them all. For tests whose variants are the same check compiled again
(seconds each on a CPU) where one variant shows the quick tier that the check works."""

from __future__ import annotations

from collections.abc import Iterable

import pytest


def slow_except(values: Iterable, quick: Iterable) -> list:
  """`values` as pytest params, each marked slow unless it is one of `quick`."""
  quick = list(quick)
  return [v if v in quick else pytest.param(*_args(v), marks=pytest.mark.slow) for v in values]


def _args(value) -> tuple:
  return value if isinstance(value, tuple) else (value,)
