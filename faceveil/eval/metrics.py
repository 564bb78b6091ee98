"""Evaluation metrics, each a small pure function on arrays (no models, no files).

Following the tables of the G2Face and PRO-Face S papers:
identity similarity and TAR@FAR (anonymization strength), detection rate, box / landmark / pose /
shape / expression distances (utility preserved), MAE / PSNR / SSIM / MS-SSIM (recovery quality),
bit error rate (payload robustness), identity diversity and a Fréchet distance between recognizer
embedding distributions (realism proxy; *not* FID, which needs the Inception network's weights).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from faceveil.errors import InputError

# --- summaries ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """mean ± std (population std, ddof=0) over n finite values; NaNs (e.g. undetected faces) are counted
    in ``missing`` and left out."""

    mean: float
    std: float
    n: int
    missing: int = 0

    def to_dict(self) -> dict:
        r = lambda v: None if math.isnan(v) else round(float(v), 6)  # noqa: E731  (JSON has no NaN)
        return {"mean": r(self.mean), "std": r(self.std), "n": self.n, "missing": self.missing}

    def __str__(self) -> str:
        return "n/a" if self.n == 0 else f"{self.mean:.4g} ± {self.std:.2g}"


def summarize(values: Iterable[float]) -> Summary:
    arr = np.asarray(list(values), dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return Summary(math.nan, math.nan, 0, int(arr.size))
    return Summary(float(finite.mean()), float(finite.std()), int(finite.size), int(arr.size - finite.size))


# --- identity -------------------------------------------------------------------------------------------


def cosine_similarity(emb_a: np.ndarray, emb_b: np.ndarray) -> float:
    """Cosine of two (D,) embeddings; 0.0 if either is all zeros."""
    a = np.asarray(emb_a, dtype=np.float64).ravel()
    b = np.asarray(emb_b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise InputError(f"embeddings differ in length: {a.shape[0]} vs {b.shape[0]}")
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norm) if norm > 0 else 0.0


@dataclass(frozen=True)
class TarAtFar:
    tar: float  # fraction of genuine pairs accepted
    far: float  # achieved fraction of impostor pairs accepted (<= the target)
    threshold: float  # accept when score > threshold
    n_genuine: int
    n_impostor: int


def tar_at_far(scores: Sequence[float], same: Sequence[bool], target_far: float = 1e-3) -> TarAtFar:
    """True accept rate at the threshold that accepts at most ``target_far`` of impostor pairs.

    scores: (N,) similarities (higher = more alike); same: (N,) True for genuine pairs. With n impostor
    pairs, k = floor(target_far * n) of them may be accepted, so the threshold is the (k+1)-th highest
    impostor score and a pair is accepted when its score is strictly greater. When k = 0 that is the
    highest impostor score: a protocol with fewer than 1/target_far impostors cannot resolve the FAR.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    if s.shape != y.shape or s.ndim != 1:
        raise InputError("scores and labels must be two equally long 1-D sequences")
    if not 0.0 <= target_far < 1.0:
        raise InputError(f"target FAR must be in [0, 1), got {target_far}")
    genuine, impostor = s[y], s[~y]
    if genuine.size == 0 or impostor.size == 0:
        raise InputError("TAR@FAR needs at least one genuine and one impostor pair")
    k = int(math.floor(target_far * impostor.size + 1e-9))
    threshold = float(np.sort(impostor)[::-1][k]) if k < impostor.size else -math.inf
    return TarAtFar(
        tar=float((genuine > threshold).mean()),
        far=float((impostor > threshold).mean()),
        threshold=threshold,
        n_genuine=int(genuine.size),
        n_impostor=int(impostor.size),
    )


# --- detection and geometry -----------------------------------------------------------------------------


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def match_box(reference: Sequence[float], candidates: Sequence[Sequence[float]], min_iou: float = 0.3) -> int | None:
    """Index of the candidate box overlapping ``reference`` most (IoU >= min_iou), else None."""
    best, best_iou = None, min_iou
    for i, box in enumerate(candidates):
        iou = box_iou(reference, box)
        if iou >= best_iou:
            best, best_iou = i, iou
    return best


def detection_rate(detected: Sequence[bool]) -> float:
    """Fraction of faces still detected (NaN for an empty list)."""
    flags = np.asarray(detected, dtype=bool)
    return float(flags.mean()) if flags.size else math.nan


def box_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Mean Euclidean distance (pixels) between the boxes' corresponding corners (x0, y0) and (x1, y1)."""
    p = np.asarray(a, dtype=np.float64).reshape(2, 2)
    q = np.asarray(b, dtype=np.float64).reshape(2, 2)
    return float(np.linalg.norm(p - q, axis=1).mean())


def landmark_distance(a: np.ndarray, b: np.ndarray, normalizer: float | None = None) -> float:
    """Mean Euclidean distance between corresponding points of (N, 2|3) landmark sets, divided by
    ``normalizer`` if given (e.g. the inter-ocular distance, giving the usual NME)."""
    p, q = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 2:
        raise InputError(f"landmark sets must have the same (N, D) shape, got {p.shape} and {q.shape}")
    d = float(np.linalg.norm(p - q, axis=1).mean())
    if normalizer is not None:
        if not normalizer > 0:
            raise InputError("landmark normalizer must be positive")
        d /= normalizer
    return d


def pose_distance(pose_a: Sequence[float], pose_b: Sequence[float]) -> float:
    """Euclidean distance (degrees) between two (yaw, pitch, roll) vectors."""
    return float(np.linalg.norm(np.asarray(pose_a, dtype=np.float64) - np.asarray(pose_b, dtype=np.float64)))


def descriptor_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Root-mean-square difference of two equally long descriptors (e.g. pose-normalised mesh
    coordinates for shape or expression distance)."""
    p, q = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if p.shape != q.shape:
        raise InputError("descriptors differ in length")
    return float(np.sqrt(np.mean((p - q) ** 2)))


# --- recovery quality -----------------------------------------------------------------------------------


# mae, psnr, ssim live with the other image measurements (the training tools use them too)
from faceveil.analysis.image_quality import _pair, mae, psnr, ssim  # noqa: E402,F401


MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang, Simoncelli & Bovik 2003


def _ssim_terms(p: np.ndarray, q: np.ndarray, data_range: float) -> tuple[float, float]:
    """Mean luminance*contrast*structure and mean contrast*structure of one (H, W) scale."""
    from scipy.ndimage import gaussian_filter

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    blur = lambda x: gaussian_filter(x, 1.5, truncate=3.5)  # noqa: E731  (11-tap window)
    mu_p, mu_q = blur(p), blur(q)
    var_p = blur(p * p) - mu_p**2
    var_q = blur(q * q) - mu_q**2
    cov = blur(p * q) - mu_p * mu_q
    cs = (2 * cov + c2) / (var_p + var_q + c2)
    luminance = (2 * mu_p * mu_q + c1) / (mu_p**2 + mu_q**2 + c1)
    return float((luminance * cs).mean()), float(cs.mean())


def ms_ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Multi-scale SSIM over up to 5 dyadic scales. Images too small for 5 scales (a side below 176 px)
    use the scales that fit, with the standard weights renormalised. Channels are averaged."""
    p, q = _pair(a, b)
    if p.ndim == 2:
        p, q = p[..., None], q[..., None]
    if min(p.shape[:2]) < 11:
        raise InputError("MS-SSIM needs images of at least 11x11 pixels")
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS) and min(p.shape[:2]) // (2**scales) >= 11:
        scales += 1
    weights = np.array(MS_SSIM_WEIGHTS[:scales])
    weights /= weights.sum()
    per_channel = []
    for c in range(p.shape[2]):
        x, y = p[..., c], q[..., c]
        terms = []
        for s in range(scales):
            full, cs = _ssim_terms(x, y, data_range)
            terms.append(full if s == scales - 1 else cs)
            x, y = _downsample2(x), _downsample2(y)
        # Negative contrast-structure (anti-correlated images) would make the power undefined; clamp.
        per_channel.append(float(np.prod(np.maximum(terms, 0.0) ** weights)))
    return float(np.mean(per_channel))


def _downsample2(x: np.ndarray) -> np.ndarray:
    """2x2 average pooling (the reference implementation's low-pass + subsample)."""
    h, w = (x.shape[0] // 2) * 2, (x.shape[1] // 2) * 2
    return x[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


# --- payload --------------------------------------------------------------------------------------------


def bit_error_rate(sent: bytes | np.ndarray, received: bytes | np.ndarray) -> float:
    """Fraction of differing bits. Byte strings are compared bitwise; arrays of 0/1 elementwise."""
    if isinstance(sent, bytes | bytearray) and isinstance(received, bytes | bytearray):
        if len(sent) != len(received):
            raise InputError(f"payloads differ in length: {len(sent)} vs {len(received)} bytes")
        if not sent:
            raise InputError("empty payload")
        diff = np.bitwise_xor(np.frombuffer(sent, np.uint8), np.frombuffer(received, np.uint8))
        return float(np.unpackbits(diff).mean())
    s, r = np.asarray(sent).ravel(), np.asarray(received).ravel()
    if s.shape != r.shape or s.size == 0:
        raise InputError("bit arrays must be equally long and non-empty")
    if not (np.isin(s, (0, 1)).all() and np.isin(r, (0, 1)).all()):
        raise InputError("bit arrays must contain only 0 and 1")
    return float((s != r).mean())


# --- diversity and distributions ------------------------------------------------------------------------


def identity_diversity(embeddings: np.ndarray) -> float:
    """Mean pairwise cosine distance (1 - cosine) among (N, D) embeddings of N anonymizations of one
    face: 0 when every anonymization has the same identity, larger when they differ."""
    e = np.asarray(embeddings, dtype=np.float64)
    if e.ndim != 2 or e.shape[0] < 2:
        raise InputError("diversity needs at least two embeddings as an (N, D) array")
    unit = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    cos = unit @ unit.T
    upper = np.triu_indices(len(e), k=1)
    return float(np.mean(1.0 - cos[upper]))


def frechet_embedding_distance(emb_a: np.ndarray, emb_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two embedding sets (N, D) and (M, D):
    |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)). Same formula as FID, but over an offline
    recognizer's embeddings -- report it as "FED-<recognizer>", never as FID."""
    a, b = np.asarray(emb_a, dtype=np.float64), np.asarray(emb_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise InputError("Fréchet distance needs two (N, D) embedding sets with N >= 2 and equal D")
    mu_a, mu_b = a.mean(0), b.mean(0)
    xa, xb = a - mu_a, b - mu_b
    value = float(((mu_a - mu_b) ** 2).sum()) + _covariance_trace_terms(xa, xb)
    return max(value, 0.0)  # tiny negative values are round-off


def _covariance_trace_terms(xa: np.ndarray, xb: np.ndarray, route: str = "auto") -> float:
    """Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) for centred samples xa (N, D), xb (M, D), S = x^T x / (n - 1).

    Tr((S_a S_b)^(1/2)) is the sum of square roots of the eigenvalues of S_a S_b. When there are
    fewer samples than dimensions (the usual case: a few hundred faces, 512-2048-d features) the
    same non-zero eigenvalues come from the small N x M matrix xa xb^T (AB and BA share them), whose
    singular values / sqrt((n-1)(m-1)) are exactly those square roots. Otherwise use the D x D
    symmetric route S_a^(1/2) S_b S_a^(1/2). Both use only symmetric / SVD decompositions.
    """
    na, nb, dim = len(xa) - 1, len(xb) - 1, xa.shape[1]
    trace_a, trace_b = float((xa**2).sum()) / na, float((xb**2).sum()) / nb
    if route == "gram" or (route == "auto" and min(na, nb) + 1 < dim):
        trace_root = float(np.linalg.svd(xa @ xb.T, compute_uv=False).sum()) / np.sqrt(na * nb)
    else:
        cov_a, cov_b = xa.T @ xa / na, xb.T @ xb / nb
        w, v = np.linalg.eigh(cov_a)
        sqrt_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
        trace_root = float(np.sqrt(np.clip(np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a), 0.0, None)).sum())
    return trace_a + trace_b - 2.0 * trace_root


# --- re-identification by ranking ---------------------------------------------------------------------

RANKS = (1, 5)  # rank-k identification reported


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, D) x (M, D) -> (N, M) cosine similarities (zero vectors give 0)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    na = np.linalg.norm(a, axis=1, keepdims=True)
    nb = np.linalg.norm(b, axis=1, keepdims=True)
    return (a / np.where(na > 0, na, 1)) @ (b / np.where(nb > 0, nb, 1)).T


def rank_hits(probes: np.ndarray, gallery: np.ndarray, probe_ids: list[str], gallery_ids: list[str],
              ks: tuple[int, ...] = RANKS) -> list[dict[int, float]]:
    """Closed-set identification: for each probe (an anonymized face), 1.0 where a gallery face of the same
    person (its own original, or another photo of that person) is among the ``k`` most similar gallery
    faces, else 0.0; one {k: hit} per probe. probes (N, D), gallery (M, D) embeddings; ids name people."""
    sims = cosine_matrix(probes, gallery)
    ids = np.asarray(gallery_ids)
    out = []
    for row, pid in zip(sims, probe_ids):
        order = ids[np.argsort(-row, kind="stable")]
        out.append({k: float(pid in set(order[:k])) for k in ks})
    return out


def rank_chance(probe_ids: list[str], gallery_ids: list[str], ks: tuple[int, ...] = RANKS) -> dict[int, float]:
    """Mean rank-k hit rate of a guess that ranks the gallery at random (the chance level)."""
    from math import comb

    m = len(gallery_ids)
    out = {}
    for k in ks:
        rates = []
        for pid in probe_ids:
            same = sum(1 for g in gallery_ids if g == pid)
            rates.append(1.0 - comb(m - same, min(k, m)) / comb(m, min(k, m)) if m else math.nan)
        out[k] = float(np.mean(rates)) if rates else math.nan
    return out
