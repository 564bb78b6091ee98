"""Sample faces; they live in faceveil.testing (kept importable here for existing callers)."""

from faceveil.testing import SAMPLE_NAMES, load_sample, load_samples

__all__ = ["SAMPLE_NAMES", "load_sample", "load_samples"]
