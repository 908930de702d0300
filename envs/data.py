"""Where data files come from: the package, a local mirror, or a pinned download.

One setting serves every domain: ``SCHEDGYM_DATA_MIRROR`` names a folder laid out like the project's
shared data (``jsplib/``, ``azure-llm-2023/``, ``soc/``, ``minimalloc/``...). Tests point it at
``../shared/data``; ``schedgym-eval data_mirror=<folder>`` sets it for one run. A domain asks for its
sub-folder with :func:`mirror_folder` and falls back to what the package ships (or to a download
checked against a pinned sha256, as the job-shop catalog does).
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_MIRROR_ENV = "SCHEDGYM_DATA_MIRROR"


def mirror_folder(dataset: str) -> Path | None:
    """``$SCHEDGYM_DATA_MIRROR/<dataset>`` when the variable is set and that folder exists, else None."""
    root = os.environ.get(DATA_MIRROR_ENV)
    if not root:
        return None
    folder = Path(root).expanduser() / dataset
    return folder if folder.is_dir() else None
