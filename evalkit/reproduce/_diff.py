"""Value-by-value comparison of two JSON records (``metrics.json``, ``gate.json``, ``comparison.json``).

Equality is exact by default: numbers are equal when they are the same float (NaN equals NaN), text when it is
the same text, lists when they have the same length and equal items in order, objects when they have the same
keys and equal values. ``rtol`` relaxes numbers only (``math.isclose`` with that relative tolerance).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: Keys whose values are expected to differ between two runs of the same thing: when and where a run was
#: made, measured times or memory, and ``spec`` (the model as named: a replay names the recorded version,
#: ``models:/<name>/<version>``, where the run may have said ``<name>``). Matched against every key of a path.
EXPECTED_KEYS = frozenset({
    "created", "decided_at", "mlflow_run_id", "mlflow_tracking_uri", "run_id", "versions", "output_dir",
    "cost", "spec", "evalkit_version",
})
#: Paths expected to differ: the address of the dask cluster a run started (a new port each time).
EXPECTED_PATHS = frozenset({"engine_details.scheduler"})
#: Keys whose values are timings or memory wherever they appear (``*_seconds``, ``latency_*``, ``*_rss_*`` ...).
TIMING_KEY = re.compile(r"(seconds|latency|rss|memory|throughput|per_second|_ms$|^ms_|elapsed|wall)", re.IGNORECASE)
#: What a path starting with each key is about, for the table of differences.
_ABOUT = {"overall_ci": "intervals", "by_group_ci": "intervals", "bootstrap": "intervals",
          "multiple_comparisons": "intervals"}


@dataclass(frozen=True)
class Difference:
    """One value that differs: its path (``by_group.sex.Female.recall``), the recorded and the new value."""

    path: str
    old: Any
    new: Any


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _same_number(a: float, b: float, rtol: float) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    return a == b or (rtol > 0 and math.isclose(a, b, rel_tol=rtol, abs_tol=0.0))


def _walk(old: Any, new: Any, path: str, rtol: float) -> Iterator[Difference]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            if key not in new or key not in old:
                yield Difference(_join(path, key), old.get(key, "(absent)"), new.get(key, "(absent)"))
            else:
                yield from _walk(old[key], new[key], _join(path, key), rtol)
        return
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            yield Difference(path, f"{len(old)} items", f"{len(new)} items")
        for i, (a, b) in enumerate(zip(old, new)):
            yield from _walk(a, b, _join(path, i), rtol)
        return
    numbers = (int, float)
    if isinstance(old, numbers) and isinstance(new, numbers) and not isinstance(old, bool) \
            and not isinstance(new, bool):
        if not _same_number(float(old), float(new), rtol):
            yield Difference(path, old, new)
        return
    if type(old) is not type(new) or old != new:
        yield Difference(path, old, new)


def expected(path: str) -> bool:
    """Whether a difference at ``path`` is expected between two runs (identity, time or a measured timing)."""
    keys = path.split(".")
    return path in EXPECTED_PATHS or any(k in EXPECTED_KEYS or TIMING_KEY.search(k) for k in keys)


def diff_records(old: Any, new: Any, *, rtol: float = 0.0) -> tuple[list[Difference], list[str]]:
    """Every differing value of two JSON records, and the expected differences apart.

    Parameters
    ----------
    old, new : JSON values
        The recorded and the reproduced record.
    rtol : float, default=0
        Relative tolerance for numbers (0: exact equality).

    Returns
    -------
    (list of Difference, list of str)
        The unexpected differences, in the records' order; the paths of the expected ones (see
        :data:`EXPECTED_KEYS`, :data:`TIMING_KEY`), collapsed to their first expected key.

    Examples
    --------
    >>> diffs, timing = diff_records({"a": 1, "cost": {"s": 0.1}}, {"a": 2, "cost": {"s": 0.2}})
    >>> diffs, timing
    ([Difference(path='a', old=1, new=2)], ['cost'])
    """
    if not (isinstance(rtol, (int, float)) and not isinstance(rtol, bool) and 0 <= rtol < 1):
        raise ValueError(f"rtol must be a number in [0, 1), got {rtol!r}")
    unexpected: list[Difference] = []
    seen: dict[str, None] = {}
    for d in _walk(old, new, "", float(rtol)):
        if d.path in EXPECTED_PATHS:
            seen[d.path] = None
        elif expected(d.path):
            keys = d.path.split(".")
            first = next(i for i, k in enumerate(keys) if k in EXPECTED_KEYS or TIMING_KEY.search(k))
            seen[".".join(keys[:first + 1])] = None
        else:
            unexpected.append(d)
    return unexpected, list(seen)


#: Keys of values a resampling makes: interval bounds, standard errors, p-values and what they decide.
_RESAMPLED = frozenset({"ci_low", "ci_high", "se", "p_value", "p_adjusted", "significant", "surviving", "n_to_decide",
                        "supported"})


def about(path: str) -> str:
    """What a path is about: ``intervals`` for interval bounds, standard errors, p-values and the bootstrap
    section (what the resampling settings change), else ``values``."""
    keys = path.split(".")
    if keys[0] in _ABOUT or any(k in _RESAMPLED or k.endswith("_ci") or k.startswith("ci_") or "_ci_" in k
                                for k in keys):
        return "intervals"
    return "values"
