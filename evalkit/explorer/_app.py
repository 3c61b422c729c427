"""``make explore``: serve ``notebooks/explore.ipynb`` as a web app with Voilà on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..exceptions import ReportError


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_app(model: str | None = None, data: str | None = None, *, port: int | None = None,
              timeout: float = 600.0, settings: Mapping[str, Any] | None = None) -> tuple[subprocess.Popen, str]:
    """Start Voilà on the explorer notebook, wait until it answers, and return ``(process, url)``.

    The model and data reach the notebook as ``EVALKIT_MODEL`` / ``EVALKIT_DATA``, evaluation ``settings``
    (threshold, threshold rule, ... : :data:`evalkit.settings.EXPLORE_SETTINGS`) as JSON in
    ``EVALKIT_SETTINGS``. The server binds to 127.0.0.1 only. Stop it with ``process.terminate()``.

    Raises
    ------
    ReportError
        If the server exits or does not answer within ``timeout`` seconds (its output is in the message).
    """
    from ..tracking import project_root

    root = project_root()
    port = port or free_port()
    env = {**os.environ}
    if model:
        env["EVALKIT_MODEL"] = model
    if data:
        env["EVALKIT_DATA"] = str(Path(data).resolve())
    if settings:
        env["EVALKIT_SETTINGS"] = json.dumps(dict(settings))
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"evalkit-explore-{port}.log"
    cmd = [sys.executable, "-m", "voila", str(root / "notebooks" / "explore.ipynb"), "--no-browser",
           f"--port={port}", "--Voila.ip=127.0.0.1", "--Voila.base_url=/",
           f"--Voila.root_dir={root / 'notebooks'}"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=root / "notebooks", env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ReportError(f"the explorer app exited with code {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - our own server on 127.0.0.1
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise ReportError(f"the explorer app did not answer on {url} within {timeout:.0f} s: {log.read_text()[-2000:]}")


def serve(model: str | None, data: str | None, port: int | None = None, *,
          settings: Mapping[str, Any] | None = None) -> int:
    """Run the app until interrupted (``make explore``), with the evaluation ``settings`` given."""
    proc, url = start_app(model, data, port=port, settings=settings)
    given = ", ".join(f"{k}={v}" for k, v in (settings or {}).items())
    print(f"evalkit explorer for {model or 'adult-logreg'}{f' ({given})' if given else ''} at {url} "
          "(Ctrl-C stops it)", flush=True)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=10)
        return 0
