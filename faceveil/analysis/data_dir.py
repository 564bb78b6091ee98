"""Where faceveil keeps model files it installs itself (not inside a Python package).

``$FACEVEIL_DATA`` if set, else ``<sys.prefix>/share/faceveil`` (inside the virtual environment, where
scripts/fetch_npm_models.sh puts them).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def data_dir() -> Path:
    env = os.environ.get("FACEVEIL_DATA")
    return Path(env) if env else Path(sys.prefix, "share", "faceveil")
