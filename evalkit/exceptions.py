"""The evalkit exception hierarchy.

Every error evalkit raises on bad input is an :class:`EvalkitError`. Subclasses carry the object
involved (a file, a column, a model, a notebook cell) so that callers and the CLI can report it, and
also subclass the matching built-in (``ValueError``, ``FileNotFoundError``) so generic handlers work.
"""

from __future__ import annotations

from pathlib import Path


class EvalkitError(Exception):
    """Base class of every error evalkit raises on purpose."""


class ManifestError(EvalkitError, ValueError):
    """A data manifest is missing, unreadable, or does not follow the schema.

    Parameters
    ----------
    path : path-like
        The manifest file.
    message : str
        What was expected and what was found.
    key : str, optional
        The offending key, if one is to blame.
    """

    def __init__(self, path: str | Path, message: str, *, key: str | None = None) -> None:
        self.path = Path(path)
        self.key = key
        self.message = message
        where = f"{self.path}" + (f", key '{key}'" if key else "")
        super().__init__(f"{where}: {message}")


class ConfigError(ManifestError):
    """A configuration file (e.g. the metrics configuration) is missing or does not follow its schema.

    Same parameters as :class:`ManifestError`: the file, the message, and the offending key.
    """


class DataError(EvalkitError, ValueError):
    """A data file does not match its manifest (checksum, columns, values).

    Parameters
    ----------
    path : path-like
        The data file.
    message : str
        What was expected and what was found.
    column : str, optional
        The offending column, if one is to blame.
    """

    def __init__(self, path: str | Path, message: str, *, column: str | None = None) -> None:
        self.path = Path(path)
        self.column = column
        where = f"{self.path}" + (f", column '{column}'" if column else "")
        super().__init__(f"{where}: {message}")


class ModelError(EvalkitError, ValueError):
    """A model cannot be found, loaded or applied to the data.

    Parameters
    ----------
    model : str
        The model specification as the user gave it.
    message : str
        What was expected and what was found.
    """

    def __init__(self, model: str, message: str) -> None:
        self.model = model
        super().__init__(f"model '{model}': {message}")


class ReportError(EvalkitError, RuntimeError):
    """Executing or rendering the report notebook failed.

    Parameters
    ----------
    message : str
        What failed.
    notebook : path-like, optional
        The partially executed notebook kept as a failure artefact.
    """

    def __init__(self, message: str, *, notebook: str | Path | None = None) -> None:
        self.notebook = Path(notebook) if notebook is not None else None
        super().__init__(message)


class TrackingError(EvalkitError, RuntimeError):
    """The MLflow tracking store or server cannot be used (unreachable, refused)."""


class ReproduceError(EvalkitError, RuntimeError):
    """A run cannot be reproduced: not found, not finished, not an evalkit run, or one of its inputs changed."""
