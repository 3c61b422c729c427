import sys

# This process runs papermill and nbconvert, so it imports jsonschema (through nbformat). jsonschema imports
# rfc3987_syntax when it is installed (it is, through jupyter-events' "format-nongpl" extra), and that
# compiles about 35 lark grammars at import: about 2 s of every command's start, for the "iri" formats no
# notebook schema uses (python-jsonschema/jsonschema#1428). Without the module jsonschema simply has no "iri"
# checker. Only evalkit's own command does without it: importing evalkit as a library changes nothing.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]

from .cli import main  # noqa: E402

sys.exit(main())
