"""Old module paths keep working for one release (evalkit/_moved.py), with a warning naming the new place."""

from __future__ import annotations

import importlib
import sys

import pytest

from evalkit._moved import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_paths_import_with_a_deprecation_warning(old):
    sys.modules.pop(f"evalkit.{old}", None)
    with pytest.warns(DeprecationWarning, match=rf"evalkit\.{old} moved: import {MOVED[old]} instead"):
        module = importlib.import_module(f"evalkit.{old}")
    target = importlib.import_module(MOVED[old])
    for name in getattr(target, "__all__", ())[:5]:
        assert getattr(module, name) is getattr(target, name)
    assert importlib.import_module(MOVED[old]).__name__ == MOVED[old]  # the new home is never renamed


def test_names_that_moved_between_modules_still_resolve():
    for old in ("fairness", "summary", "gating"):
        sys.modules.pop(f"evalkit.{old}", None)
    with pytest.warns(DeprecationWarning):
        from evalkit.fairness import group_columns, metrics_by_group  # noqa: F401
        from evalkit.summary import header  # noqa: F401
        from evalkit.gating import run_gate  # noqa: F401
