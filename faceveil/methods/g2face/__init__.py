"""G2Face (Yang et al., "High-Fidelity Reversible Face Anonymization via Generative and Geometric
Priors", IEEE TIFS 2024): checkpoint-compatible networks, secure payload, inference and training.

Importing this package registers the ``g2face`` method and its weight files; torch-heavy modules
load lazily through the method factory.
"""

from faceveil.methods.g2face import weights  # noqa: F401  (registers model files)
from faceveil.methods.g2face import method  # noqa: F401  (registers the method)
