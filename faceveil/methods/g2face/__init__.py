"""G2Face (Yang et al., "High-Fidelity Reversible Face Anonymization via Generative and Geometric
Priors", IEEE TIFS 2024): checkpoint-compatible networks, secure payload, inference and training.

Importing this package registers the ``g2face`` method (``faceveil.methods.base.create_method``)
and its three user weight files (``faceveil models``) without importing torch.
"""

from faceveil.methods.g2face import registration  # noqa: F401  (registers the method)
from faceveil.methods.g2face import weights  # noqa: F401  (registers model files)
