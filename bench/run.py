"""evalkit benchmarks: `make bench` writes bench/results.json.

Records have at least name, rows, seconds, baseline, baseline_seconds, speedup (baseline_seconds /
seconds). Timings are measured here and reported, never asserted by the test suite.

1. report_end_to_end: `python -m evalkit report --model adult-logreg` (warm: demo model already
   registered), against the floor: a notebook that only imports the same libraries, executed by
   papermill and rendered by nbconvert the same way, in a fresh process. Target: report <= 2 x floor
   + the report's own metric time (record 2).
2. evaluate_adult: evalkit.evaluate on the default data in-process (the metric time).
3. by_group_*: the vectorised per-group engine against fairlearn's MetricFrame on the same data.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
# What the report's kernel imports (evalkit, its plotting and summary modules, and the libraries they
# load lazily: scikit-learn's metrics and calibration, scipy.stats for DET axes, skops for the model).
IMPORTS = ("import evalkit\nfrom evalkit import plots, summary\nimport sklearn.metrics, sklearn.calibration, "
           "scipy.stats, skops.io, matplotlib.pyplot\nevalkit.setup_notebook()")
FLOOR = """
import sys, tempfile, time
from pathlib import Path
import nbformat as nbf
import papermill as pm
from evalkit.report import render_html
nb = nbf.v4.new_notebook()
nb.cells = [nbf.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
            nbf.v4.new_code_cell(IMPORTS)]
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
d = Path(tempfile.mkdtemp())
nbf.write(nb, d / "floor.ipynb")
pm.execute_notebook(str(d / "floor.ipynb"), str(d / "out.ipynb"), parameters={"x": 2}, progress_bar=False, kernel_name="python3")
render_html(d / "out.ipynb", d / "floor.html", title="floor")
"""


def _time(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _run(cmd: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def bench_report(store: Path) -> list[dict]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"}
    out = store / "reports"
    report = [sys.executable, "-m", "evalkit", "report", "--model", "adult-logreg", "--no-progress",
              "--output-root", str(out)]
    _run(report, env)  # warm-up: registers the demo model in this store
    report_s = min(_run(report, env) for _ in range(3))
    floor_s = min(_run([sys.executable, "-c", f"IMPORTS = {IMPORTS!r}\n" + FLOOR], env) for _ in range(3))

    from evalkit import evaluate, load_dataset, resolve_model

    os.environ["MLFLOW_TRACKING_URI"] = env["MLFLOW_TRACKING_URI"]
    ref = resolve_model("adult-logreg", download_dir=store / "m")
    data = load_dataset(ROOT / "data_manifests" / "adult_test.yaml")
    metric_s = _time(lambda: evaluate(ref, data))
    return [
        {"name": "report_end_to_end", "rows": len(data), "seconds": report_s, "baseline": "floor_notebook",
         "baseline_seconds": floor_s, "speedup": floor_s / report_s,
         "target_seconds": 2 * floor_s + metric_s, "target_met": report_s <= 2 * floor_s + metric_s},
        {"name": "evaluate_adult", "rows": len(data), "seconds": metric_s, "baseline": None,
         "baseline_seconds": None, "speedup": None},
    ]


def bench_by_group(rows: int, n_groups: int, with_fairlearn: bool) -> dict:
    from evalkit.fairness import metrics_by_group

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, rows).astype(np.int8)
    s = rng.random(rows)
    sens = pd.DataFrame({"g": rng.integers(0, n_groups, rows).astype(str)})
    ours = _time(lambda: metrics_by_group(y, s, sensitive=sens, threshold=0.5))
    base = _time(lambda: metrics_by_group(y, s, sensitive=sens, threshold=0.5, engine="fairlearn"), 1) if with_fairlearn else None
    return {"name": f"by_group_{n_groups}_groups", "rows": rows, "seconds": ours,
            "baseline": "fairlearn.MetricFrame" if base else None, "baseline_seconds": base,
            "speedup": base / ours if base else None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    args = parser.parse_args()
    records = []
    with tempfile.TemporaryDirectory(prefix="evalkit-bench-") as tmp:
        records += bench_report(Path(tmp))
    records.append(bench_by_group(100_000, 40, with_fairlearn=True))
    records.append(bench_by_group(1_000_000, 40, with_fairlearn=False))
    doc = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "records": records}
    from evalkit._io import atomic_write_json

    atomic_write_json(args.out, doc)
    for r in records:
        base = f" vs {r['baseline']} {r['baseline_seconds']:.3f}s (x{r['speedup']:.2f})" if r["baseline"] else ""
        print(f"{r['name']:<22} rows={r['rows']:>9,} {r['seconds']:.3f}s{base}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
