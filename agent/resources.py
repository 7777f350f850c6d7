"""Where the shipped skill and prompt files live, in a source checkout and in an installed copy."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The folder of bundled resources `name` ("skills" or "prompts").

    A wheel carries them inside the package (agent/_bundled/<name>); a source checkout or an
    editable install reads them from the repository's top level, where integrators edit them.
    """
    for candidate in (_PACKAGE_DIR / "_bundled" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"bundled folder {name!r} not found next to {_PACKAGE_DIR}; reinstall wallwm-agent"
    )
