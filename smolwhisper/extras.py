"""The package's optional parts, as pyproject.toml's extras name them, and what to say when one is missing.

The base install trains, orchestrates, tracks and reports. `synth` adds the Python speech engines of
the synthetic corpus; `dev` the reference implementations the tests compare against.
"""

from __future__ import annotations

import importlib.util

EXTRAS = {"synth": "the synthetic corpus's Python speech engines", "dev": "the tests' reference implementations"}


def install_hint(extra: str) -> str:
    return f"pip install 'smolwhisper[{extra}]', or in a clone: pip install -e '.[{extra}]'"


def missing(module: str, extra: str) -> str | None:
    """None where `module` can be imported, else a line naming the extra that installs it."""
    if importlib.util.find_spec(module) is not None:
        return None
    return f"Python module {module!r} is not installed; it comes with the {extra!r} extra ({install_hint(extra)})"
