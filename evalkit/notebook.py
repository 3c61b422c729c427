"""Notebook set-up shared by the report and interactive use."""

from __future__ import annotations


def setup_notebook(*, dpi: int = 96) -> None:
    """Make figures render as crisp, embeddable PNGs with a consistent style.

    Call once at the top of a notebook. Outside IPython it only sets matplotlib's style. Under the inline
    backend each figure is drawn once, for its PNG (pyplot's redraw after every cell is switched off).
    """
    import matplotlib

    matplotlib.rcParams.update({
        "figure.dpi": dpi,
        "savefig.dpi": dpi,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "font.size": 9,
    })
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipykernel
        return
    if get_ipython() is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        # Figures use constrained layout already; the inline default bbox_inches="tight" would draw
        # every figure twice.
        set_matplotlib_formats("png", bbox_inches=None)
        import matplotlib.pyplot as plt

        if "inline" in matplotlib.get_backend():
            # pyplot redraws every open figure after each cell (its REPL hook, for GUI windows), just before
            # the inline backend renders and closes them: each figure would be drawn twice.
            plt.uninstall_repl_displayhook()
