"""``make report-all``'s reports share the cores (evalkit/runner/_batch.py): each report's native thread pools
get their share, unless the user set them."""

from __future__ import annotations

from evalkit.runner._batch import _pool_environment


def test_each_report_gets_its_share_of_the_cores_and_the_users_setting_stays():
    env = _pool_environment(2, 2, {"PATH": "/bin"})
    assert env == {"PATH": "/bin", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                   "MKL_NUM_THREADS": "1"}
    assert _pool_environment(3, 8, {})["OMP_NUM_THREADS"] == "2"
    assert _pool_environment(4, 2, {})["OMP_NUM_THREADS"] == "1"  # never none
    mine = _pool_environment(2, 2, {"OMP_NUM_THREADS": "4"})
    assert mine["OMP_NUM_THREADS"] == "4" and mine["OPENBLAS_NUM_THREADS"] == "1"
