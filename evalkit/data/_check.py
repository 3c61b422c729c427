"""``evalkit data check`` / ``make data-check``: verify every manifest in the repository."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..exceptions import EvalkitError, ManifestError


def manifest_files(paths: Sequence[Path]) -> list[Path]:
    """The YAML files among ``paths`` (folders are searched, not recursively), sorted."""
    out: list[Path] = []
    for p in paths:
        out += sorted([*p.glob("*.yaml"), *p.glob("*.yml")]) if p.is_dir() else [p]
    return out


def check_manifests(paths: Sequence[Path], *, log: Callable[[str], None] = print,
                    kinds: Mapping[str, Callable[[Path], str]] | None = None) -> bool:
    """Load every dataset and suite manifest (sha256 streamed, size, schema, labels, groups, images) and
    print one line each; return whether all passed.

    ``kinds`` checks manifests of other kinds (``kind: verification``): a loader that raises on a bad file and
    returns a one-line description, supplied by the package that owns the kind.

    Examples
    --------
    >>> check_manifests([Path("data_manifests")])  # doctest: +SKIP
    ok    data_manifests/adult_test.yaml: adult_test, 16,281 rows, sha256 dd1db71f9756…
    """
    from ._dataset import load_dataset
    from ._manifest import read_yaml_mapping

    kinds = dict(kinds or {})
    files = manifest_files(paths)
    if not files:
        log(f"no manifests found in {[str(p) for p in paths]}")
        return False
    failed = 0
    for f in files:
        try:
            kind = read_yaml_mapping(f, ManifestError, what="manifest").get("kind", "dataset")
            if kind in kinds:
                log(f"ok    {f}: {kinds[kind](f)}")
                continue
            ds = load_dataset(f)
        except (EvalkitError, ValueError, OSError) as err:
            failed += 1
            log(f"FAIL  {f}: {err}")
            continue
        kind = "suite" if "members" in ds.manifest.extra else "dataset"
        log(f"ok    {f}: {kind} {ds.name}, {len(ds):,} rows, sha256 {ds.manifest.sha256[:12]}…")
    log(f"{len(files) - failed} of {len(files)} manifests verified" + (f"; {failed} failed" if failed else ""))
    return failed == 0
