"""The interactive explorer: a threshold slider over the score histogram, live per-group metrics
and the samples behind every bin, as a notebook widget and as a small web app on 127.0.0.1.

May import: :mod:`evalkit.views` and everything below it, :mod:`evalkit.tracking`.
"""

from ._app import (
    free_port,
    start_app,
    serve,
)
from ._widget import (
    Explorer,
    explore,
)

__all__ = [
    "Explorer",
    "explore",
    "free_port",
    "serve",
    "start_app",
]
