"""A papermill engine whose notebook client leaves SIGINT and SIGTERM to evalkit.

nbclient installs its own asyncio handlers for SIGINT and SIGTERM while a notebook runs: they only
schedule a kernel shutdown, so a Ctrl-C or ``kill`` that lands mid-cell could be swallowed and the
report finish as if nothing happened (and the SIGTERM handler of the CLI is reset to the default
when nbclient removes its own). This engine re-installs, before every cell, handlers that raise
:class:`KeyboardInterrupt` (naming the signal), so the pipeline's failure handling runs: the run is
marked FAILED, the partial notebook kept, and the CLI exits 130 or 143.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

#: The name the engine is registered under with papermill.
ENGINE_NAME = "evalkit"
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _interrupt(signum: int) -> None:
    raise KeyboardInterrupt(f"terminated by signal {signal.Signals(signum).name}")


def register() -> str:
    """Register the engine with papermill (idempotent); return its name."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    class _Client(PapermillNotebookClient):
        async def async_execute_cell(self, *args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            for sig in _SIGNALS:
                try:
                    loop.add_signal_handler(sig, _interrupt, sig)
                except (RuntimeError, NotImplementedError, ValueError):  # not the main thread, or Windows
                    pass
            return await super().async_execute_cell(*args, **kwargs)

    class _Engine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                     stdout_file: Any = None, stderr_file: Any = None, start_timeout: int = 60,
                                     execution_timeout: int | None = None, **kwargs: Any) -> Any:
            kwargs = remove_args(["input_path"], **kwargs)
            safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
            final_kwargs = merge_kwargs(
                safe_kwargs, timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                startup_timeout=start_timeout, kernel_name=kernel_name, log=logger, log_output=log_output,
                stdout_file=stdout_file, stderr_file=stderr_file)
            return _Client(nb_man, **final_kwargs).execute()

    papermill_engines.register(ENGINE_NAME, _Engine)
    return ENGINE_NAME
