"""``faceveil eval --method M --engine ray``: the anonymize-and-recover half of an evaluation runs as
the same kind of Ray Data pipeline as ``anonymize``/``recover`` (scale.driver): the originals are a
dataset, ``map_batches`` runs ``EvalWorker`` over an actor pool (each holds the method and the
detector, loaded once; Ray restarts a dead one and retries its item), and the driver measures the
items with the analysis models as they stream back, in the originals' order.

Keys: with ``--seed`` each item's content keys derive from (seed, item name), so a result does not
depend on which worker took which item (the local engine numbers its keys in order instead, so the
two engines draw different, equally reproducible, keys).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator

from faceveil.errors import FaceveilError


class EvalWorker:
    """The Ray Data class: one original per call in, one pickled EvalItem (or skip reason) out."""

    def __init__(self, method: str, options: dict, detector: str, diversity: int, seed: int | None,
                 mask: dict | None = None):
        """``mask``: MethodSource's keywords as `faceveil anonymize` takes them (shape, mask_scale, threshold)."""
        from faceveil.eval.sources import MethodSource

        self.seed = seed
        self.source = MethodSource(method, options, detector, diversity, seed, **(mask or {}))

    def __call__(self, batch: dict) -> dict:
        out = [pickle.dumps(self.item(str(name), pickle.loads(blob))) for name, blob in zip(batch["name"], batch["source"])]
        return {"result": out}

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
    from faceveil.scale.driver import _connect, _worker_count

    cluster = request.cluster
    ray, started_here, dashboard = _connect(cluster)
    if dashboard:
        import sys

        print(f"[ray] dashboard: {dashboard}", file=sys.stderr)
    saved_order = options = None
    try:
        from ray.data import ActorPoolStrategy, DataContext

        n = _worker_count(ray, cluster)
        mask = {"shape": request.shape, "mask_scale": request.mask_scale, "threshold": request.threshold}
        originals = [{"name": name, "source": pickle.dumps(src if not hasattr(src, "as_posix") else str(src))}
                     for name, src in original_images(request.data)]
        options = DataContext.get_current().execution_options
        saved_order, options.preserve_order = options.preserve_order, True  # results in the originals' order
        ds = ray.data.from_items(originals, override_num_blocks=len(originals)).map_batches(
            EvalWorker, fn_constructor_args=(request.method, dict(request.options), request.face_detector,
                                             request.diversity, request.seed, mask),
            batch_size=1, compute=ActorPoolStrategy(size=min(n, len(originals))), num_cpus=cluster.cpus_per_worker,
            num_gpus=cluster.gpus_per_worker or None, batch_format="numpy",
        )
        for row in ds.iter_rows():
            result = pickle.loads(row["result"])
            if isinstance(result, str):
                skipped.append(result)
            else:
                yield result
    finally:
        if saved_order is not None:  # the process-wide Ray Data setting goes back however the run ends
            options.preserve_order = saved_order
        if started_here:
            ray.shutdown()
