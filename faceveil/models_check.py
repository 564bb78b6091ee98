"""`python -m faceveil.models_check`: run by scripts/install.sh to prove the package-shipped model
files are in place (fails the install loudly instead of failing later at first use)."""

from __future__ import annotations

import sys


def main() -> int:
    from faceveil.models_registry import model_statuses

    missing = [m for m in model_statuses() if m.required and not m.installed]
    for m in model_statuses():
        print(f"  {'ok' if m.installed else '--'}  {m.name:<28} {m.status}")
    if missing:
        print("missing required model files: " + ", ".join(m.name for m in missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
