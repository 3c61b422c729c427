"""The README's speed and coverage figures are bench/results.json's own (written by bench/readme.py)."""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_readme", ROOT / "bench" / "readme.py")
readme = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme)


def test_the_readme_holds_the_committed_results():
    doc = json.loads((ROOT / "bench" / "results.json").read_text())
    text = (ROOT / "README.md").read_text()
    assert readme.replace_blocks(text, readme.render(doc)) == text, (
        "README.md's bench blocks differ from bench/results.json: run `python bench/readme.py`")
    assert doc["created"] in text


def test_blocks_are_replaced_whole_and_missing_ones_named():
    text = "a\n<!-- bench:speed -->\nold 1 s\n<!-- /bench:speed -->\nb\n"
    assert readme.replace_blocks(text, {"speed": "new 2 s\n"}) == \
        "a\n<!-- bench:speed -->\nnew 2 s\n<!-- /bench:speed -->\nb\n"
    with pytest.raises(ValueError, match="bench:coverage"):
        readme.replace_blocks(text, {"coverage": "x\n"})


def test_a_missed_target_is_marked():
    doc = {"created": "T", "machine": {"cpus": 2, "python": "3.11"}, "records": [
        {"name": "paired_auc_interval", "rows": 10**6, "groups": 1, "seconds": 4.0, "peak_mb": 90.0,
         "baseline": "per-sample", "baseline_seconds": 500.0, "baseline_rows": 10**6, "speedup": 125.0, "note": "",
         "target_seconds": 3.0, "target_met": False}]}
    text = readme.render_speed(doc)
    assert "| `paired_auc_interval` | 10⁶ | 4 s, peak 90 MB | per-sample: 500 s | ≤ 3 s | **missed** |" in text
