"""``faceveil eval --method M --engine ray``: the anonymize-and-recover half of an evaluation runs on
Ray actors (each holds the method and the detector, loaded once); the driver measures the items with
the analysis models as they stream back, in the originals' order.

Keys: with ``--seed`` each item's content keys derive from (seed, item name), so a result does not
depend on which worker took which item (the local engine numbers its keys in order instead, so the
two engines draw different, equally reproducible, keys).
"""

from __future__ import annotations

from collections.abc import Iterator

from faceveil.errors import FaceveilError, InputError


class EvalWorker:
    def __init__(self, method: str, options: dict, detector: str, diversity: int, seed: int | None,
                 mask: dict | None = None):
        """``mask``: MethodSource's keywords as `faceveil anonymize` takes them (shape, mask_scale, threshold)."""
        from faceveil.eval.sources import MethodSource

        self.seed = seed
        self.source = MethodSource(method, options, detector, diversity, seed, **(mask or {}))

    def item(self, name: str, source):
        """An EvalItem, or the reason the original was skipped (a bad file fails alone)."""
        from faceveil.eval.sources import load_rgb

        try:
            rgb = source if not isinstance(source, str) else load_rgb(source)
            if self.seed is not None:
                self.source.seed = f"{self.seed}/{name}"
                self.source._keys_made = 0  # keys numbered per item, not per worker
            return self.source.item(name, rgb)
        except FaceveilError as exc:
            return f"{name}: {exc}"


def method_items(request, skipped: list[str]) -> Iterator:
    """EvalItems of ``request`` (an ``EvalRequest`` in --method mode) computed on Ray."""
    from faceveil.eval.sources import original_images
    from faceveil.scale.driver import _connect

    cluster = request.cluster
    ray, started_here, dashboard = _connect(cluster)
    if dashboard:
        import sys

        print(f"[ray] dashboard: {dashboard}", file=sys.stderr)
    try:
        resources = ray.cluster_resources()
        gpus = cluster.gpus_per_worker or 0.0
        n = cluster.workers or (int(resources.get("GPU", 0) // gpus) if gpus else int(resources.get("CPU", 1)))
        if n < 1:
            raise InputError("--workers must be at least 1")
        remote = ray.remote(EvalWorker).options(num_cpus=cluster.cpus_per_worker, num_gpus=gpus)
        mask = {"shape": request.shape, "mask_scale": request.mask_scale, "threshold": request.threshold}
        actors = [remote.remote(request.method, dict(request.options), request.face_detector, request.diversity,
                                request.seed, mask) for _ in range(n)]
        pool = ray.util.ActorPool(actors)
        originals = [(name, src if not hasattr(src, "as_posix") else str(src)) for name, src in original_images(request.data)]
        for result in pool.map(lambda actor, v: actor.item.remote(*v), originals):  # ordered, n in flight
            if isinstance(result, str):
                skipped.append(result)
            else:
                yield result
    finally:
        if started_here:
            ray.shutdown()
