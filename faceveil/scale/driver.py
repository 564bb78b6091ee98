"""The driver: lists SRC lazily, skips what earlier runs finished, feeds long-lived Ray actors, writes
the manifest, shows progress and returns a summary.

Scheduling is Ray's: actors are placed by Ray on nodes with the requested CPUs/GPUs, and each actor
runs its calls in order. The driver only keeps a bounded window of calls in flight (``DEPTH`` per actor,
so an actor never waits for the next item) and reacts to what comes back. A call carries a small batch
of images (``--batch-size``; learned methods batch their faces across them), a video alone:

* an item's record goes to the manifest (ok or failed: a bad file fails alone);
* a worker that dies (node lost, OOM, ``ray.kill``) fails every call it had in flight; the driver
  starts a replacement and re-queues those items once, each alone, so a file that kills its worker
  takes no batch down with it a second time (their leftover temp files are swept first; a
  completed output of the dead worker is replaced atomically, so nothing is ever half-written);
* a recover worker that meets a passphrase salt it holds no secret for gets it derived here, once.

Memory on the driver is O(workers * DEPTH * batch size) for the window plus the resume state (one
entry per input already done, see docs/scale.md for 10^6 and 10^8 files), never the full listing.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath

from faceveil.errors import FaceveilError, InputError, KeyMaterialError, OutputExistsError
from faceveil.scale.job import ANONYMIZE, ClusterOptions, Item, Job
from faceveil.scale.location import Location, iter_files
from faceveil.scale.manifest import FAILED, STATE_DIR, Manifest, Record

DEPTH = 2  # calls queued per actor
MAX_ATTEMPTS = 2  # an item whose worker died is tried once more in the same run
REPLACE_TIMEOUT_S = 300.0  # a replacement worker that cannot be placed for this long is given up
MAX_SALTS = 16  # recover: distinct passphrase salts (= anonymize runs) derived per run; bounds hostile files


@dataclass
class DriverSecrets:
    """What only the driver holds. ``seal_master``: the run's Argon2id output (anonymize with a
    passphrase); ``opener``: ``PassphraseKey.for_opening`` (recover); ``identities``: X25519 private keys."""

    seal_master: bytes | None = None
    opener: object | None = None
    identities: list = field(default_factory=list)


@dataclass
class Summary:
    command: str
    src: str
    dst: str
    run: str
    listed: int = 0
    skipped: int = 0  # done by an earlier run (manifest + output exist)
    ok: int = 0
    failed: int = 0
    retried: int = 0
    workers: int = 0
    workers_replaced: int = 0
    batch_size: int = 0  # images per worker call (--batch-size, or the method's default)
    batches: int = 0  # worker calls made
    seconds: float = 0.0
    startup_seconds: float = 0.0  # joining/starting Ray and starting the workers (models loaded)
    dashboard: str | None = None
    failures: list[Record] = field(default_factory=list)
    worker_names: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return (self.ok + self.failed) / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        codes = {r.exit_code or 1 for r in self.failures}
        if not codes:
            return 0
        return codes.pop() if len(codes) == 1 else 1

    @property
    def manifest(self) -> str:
        return f"{self.dst.rstrip('/')}/{STATE_DIR}/manifest"

    def to_dict(self) -> dict:
        return {
            "command": self.command, "engine": "ray", "src": self.src, "dst": self.dst, "run": self.run,
            "listed": self.listed, "skipped": self.skipped, "ok": self.ok, "failed": self.failed,
            "retried": self.retried, "workers": self.workers, "workers_replaced": self.workers_replaced,
            "batch_size": self.batch_size, "batches": self.batches,
            "seconds": round(self.seconds, 3), "startup_seconds": round(self.startup_seconds, 3), "files_per_s": round(self.rate, 3), "dashboard": self.dashboard,
            "manifest": self.manifest, "failures": [{"input": r.input, "error": r.error, "exit_code": r.exit_code}
                                                    for r in self.failures],
        }

    def describe(self) -> str:
        return (f"{self.command} on ray: {self.listed} file(s) listed, {self.ok} done now, {self.skipped} already done, "
                f"{self.failed} failed; {self.seconds:.1f} s, {self.rate:.2f} files/s on {self.workers} worker(s)"
                + (f" ({self.workers_replaced} replaced)" if self.workers_replaced else "")
                + f"; manifest {self.manifest}")


# --- checks before any work ---------------------------------------------------------------------


def check_locations(src: Location, dst: Location, manifest: Manifest, overwrite: bool) -> None:
    """Refuse what would loop or clobber: DST inside SRC (or the reverse), or a non-empty DST that no
    faceveil run owns (use an empty folder, or --overwrite to write into it anyway)."""
    if src.contains(dst) or dst.contains(src):
        raise InputError(f"the output {dst.url} and the input {src.url} must not contain each other")
    if dst.is_local:
        from pathlib import Path

        if Path(dst.root).exists() and not Path(dst.root).is_dir():
            raise InputError(f"the output {dst.url} must be a folder")
        Path(dst.root).mkdir(parents=True, exist_ok=True)
    if not overwrite and not manifest.exists() and dst.is_dir() and dst.has_entries():
        raise OutputExistsError(
            f"{dst.url} is not empty and holds no faceveil run to resume; use an empty folder, or --overwrite"
        )


# --- progress -----------------------------------------------------------------------------------


class Progress:
    """One status line on stderr: done/total, failures, rate, ETA (total is counted in a background
    listing pass, so it appears after a moment on huge inputs)."""

    def __init__(self, summary: Summary, enabled: bool, stream=None, every: float | None = None):
        self.summary = summary
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = every if every is not None else (0.5 if self.tty else 10.0)
        self.total: int | None = None
        self.started = time.monotonic()
        self._last = 0.0

    def line(self) -> str:
        s = self.summary
        done = s.ok + s.failed + s.skipped
        elapsed = time.monotonic() - self.started
        rate = (s.ok + s.failed) / elapsed if elapsed > 0 else 0.0
        total = f"{self.total}" if self.total is not None else f"{s.listed}+ (listing)"
        eta = ""
        if self.total is not None and rate > 0:
            eta = f", ETA {max(0.0, (self.total - done) / rate):.0f} s"
        return f"[ray] {done}/{total} done ({s.skipped} skipped), {s.failed} failed, {rate:.2f} files/s{eta}"

    def tick(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        if self.tty:
            print("\r" + self.line().ljust(100), end="", file=self.stream, flush=True)
        else:
            print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self.enabled:
            self.tick(force=True)
            if self.tty:
                print(file=self.stream)


# --- the run ------------------------------------------------------------------------------------


def run(job: Job, cluster: ClusterOptions, secrets: DriverSecrets, *, overwrite: bool = False,
        progress: bool = True, description: dict | None = None, on_record=None) -> Summary:
    """Run ``job`` on Ray. Joins ``cluster.address`` or starts a local runtime (stopped at the end)."""
    from faceveil.api import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

    manifest = Manifest(job.dst, job.run)
    check_locations(job.src, job.dst, manifest, overwrite)
    summary = Summary(job.command, job.src.url, job.dst.url, job.run)
    extensions = frozenset(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS)
    listing = iter_files(job.src, extensions, frozenset({STATE_DIR}))
    first = next(listing, None)  # a missing SRC fails here, before Ray starts
    if first is None:
        raise InputError(f"no input images found in {job.src.url}")
    done = manifest.load_done() if manifest.exists() else {}
    manifest.start((description or {}) | {"run": job.run, "command": job.command, "src": job.src.url, "dst": job.dst.url})

    bar = Progress(summary, progress)
    counter = threading.Thread(target=_count, args=(job.src, extensions, bar), daemon=True)
    counter.start()
    t0 = time.monotonic()
    ray = started_here = None
    try:
        items = _items(_chain(first, listing), job, done, summary)
        first_item = next(items, None)
        if first_item is not None:  # a finished run, resumed, starts neither Ray nor a worker
            ray, started_here, summary.dashboard = _connect(cluster)
            if summary.dashboard and progress:
                print(f"[ray] dashboard: {summary.dashboard}", file=sys.stderr)
            pool = _Pool(ray, job, cluster, secrets)
            summary.workers = len(pool.slots)
            summary.worker_names = pool.names
            summary.batch_size = pool.batch_size
            summary.startup_seconds = time.monotonic() - t0
            _dispatch(pool, _chain(first_item, items), manifest, summary, bar, on_record)
            summary.workers_replaced = pool.replaced
    finally:
        manifest.flush()
        summary.seconds = time.monotonic() - t0
        bar.close()
        if started_here:
            ray.shutdown()
    return summary


def _chain(first, rest):
    yield first
    yield from rest


def _count(src: Location, extensions, bar: Progress) -> None:
    bar.total = sum(1 for _ in iter_files(src, extensions, frozenset({STATE_DIR})))


def _items(listing, job: Job, done: dict[str, str], summary: Summary):
    """Items still to do: an input is skipped only if its latest record is ok *and* its output exists."""
    for rel in listing:
        summary.listed += 1
        out = job.output_name(rel)
        if done.get(rel) == out and job.dst.exists(out):
            summary.skipped += 1
            continue
        yield Item(rel, out)


def _connect(cluster: ClusterOptions):
    """(ray module, whether we started the runtime, dashboard URL or None)."""
    try:
        import ray
    except ImportError:
        raise InputError("--engine ray needs Ray: pip install 'faceveil[ray]' (or ./scripts/install.sh)") from None
    if ray.is_initialized():
        return ray, False, None
    kwargs = {"logging_level": "WARNING", "log_to_driver": True}
    try:
        if cluster.address:
            context = ray.init(address=cluster.address, **kwargs)
        else:
            context = ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InputError(f"cannot reach the Ray cluster at {cluster.address or 'local'}: {exc}") from None
    url = getattr(context, "dashboard_url", None)
    return ray, True, (f"http://{url}" if url and not url.startswith("http") else url) or None


class _Pool:
    """The actors, their transport keys, and replacement of dead ones."""

    def __init__(self, ray, job: Job, cluster: ClusterOptions, secrets: DriverSecrets):
        from faceveil.scale.worker import Worker

        self.ray, self.job, self.secrets = ray, job, secrets
        resources = ray.cluster_resources()
        gpus = cluster.gpus_per_worker or 0.0
        if gpus and resources.get("GPU", 0) < gpus:
            raise InputError(f"--gpus-per-worker {gpus}: the Ray cluster has {resources.get('GPU', 0):g} GPU(s)")
        n = cluster.workers
        if n is None:
            n = int(resources.get("GPU", 0) // gpus) if gpus else int(resources.get("CPU", 1) // cluster.cpus_per_worker)
        if n < 1:
            raise InputError("--workers must be at least 1")
        self.remote_cls = ray.remote(Worker).options(num_cpus=cluster.cpus_per_worker, num_gpus=gpus, max_restarts=0)
        self.derived: dict[tuple[bytes, tuple], bytes] = {}  # recover: (salt, params) -> secret
        self.slots: list = [None] * n
        self.generation = [0] * n
        self.transport: list[bytes] = [b""] * n
        self.names: list[str] = [""] * n
        self.replaced = 0
        for i in range(n):
            self.slots[i] = self.remote_cls.remote(job)
        self._setup(range(n))
        self.batch_size = cluster.batch_size or ray.get(self.slots[0].preferred_batch_size.remote())

    def _setup(self, indices, timeout: float | None = None) -> None:
        from faceveil.scale.keys import private_key_bytes, seal_for_worker

        ray, job, secrets = self.ray, self.job, self.secrets
        keys = ray.get([self.slots[i].transport_key.remote() for i in indices], timeout=timeout)
        calls = []
        for i, key in zip(indices, keys):
            self.transport[i] = key
            pass_secret = seal_for_worker(secrets.seal_master, key, job.run, "passphrase") if secrets.seal_master else None
            privates = [seal_for_worker(private_key_bytes(ident), key, job.run, "x25519") for ident in secrets.identities]
            calls.append(self.slots[i].setup.remote(pass_secret, privates))
            for (salt, params), master in self.derived.items():
                self.slots[i].add_secret.remote(salt, params, seal_for_worker(master, key, job.run, "passphrase"))
        try:
            names = ray.get(calls, timeout=timeout)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, FaceveilError):  # e.g. a model file missing on the workers
                raise cause from None
            raise
        for i, name in zip(indices, names):
            self.names[i] = name

    def replace(self, slot: int) -> bool:
        """Start a new actor in place of a dead one (its in-flight items are re-queued by the caller).
        False when none can be placed within REPLACE_TIMEOUT_S (the cluster shrank): the slot stays empty."""
        self.generation[slot] += 1
        self.replaced += 1
        self.slots[slot] = self.remote_cls.remote(self.job)
        try:
            self._setup([slot], timeout=REPLACE_TIMEOUT_S)
        except self.ray.exceptions.GetTimeoutError:
            self.ray.kill(self.slots[slot])
            self.slots[slot] = None
            return False
        return True

    @property
    def alive(self) -> int:
        return sum(s is not None for s in self.slots)

    def derive(self, salt: bytes, params: tuple) -> None:
        """Recover with a passphrase: derive the secret for a salt once, hand it to every worker."""
        from faceveil.crypto.keys import Argon2Params
        from faceveil.scale.keys import seal_for_worker

        if (salt, params) in self.derived:
            return
        if len(self.derived) >= MAX_SALTS:
            raise KeyMaterialError(f"more than {MAX_SALTS} different passphrase salts in one recover run")
        master = self.secrets.opener.master_secret(salt, Argon2Params(*params))  # Argon2id, once per salt
        self.derived[(salt, params)] = master
        self.ray.get([actor.add_secret.remote(salt, params, seal_for_worker(master, self.transport[i], self.job.run, "passphrase"))
                      for i, actor in enumerate(self.slots) if actor is not None])


def _dispatch(pool: _Pool, items, manifest: Manifest, summary: Summary, bar: Progress, on_record) -> None:
    from faceveil.api import VIDEO_EXTENSIONS

    ray = pool.ray
    actor_died = (ray.exceptions.RayActorError,)
    retry: deque[Item] = deque()
    held: deque[Item] = deque()  # an item read while filling a batch it cannot join (a video)
    free: deque[tuple[int, int]] = deque((i, 0) for _ in range(DEPTH) for i in range(len(pool.slots)))
    in_flight: dict = {}  # ref -> (slot, generation, [items])
    key_retried: set[str] = set()  # recover: inputs re-queued once after their salt's secret was derived
    exhausted = False
    batchable = pool.job.command == ANONYMIZE and pool.batch_size > 1

    def alone(item: Item) -> bool:
        return not batchable or PurePosixPath(item.input).suffix.lower() in VIDEO_EXTENSIONS

    def next_batch() -> list[Item]:
        """Retries go alone; otherwise up to batch_size images, or one video."""
        if retry:
            return [retry.popleft()]
        batch: list[Item] = []
        while len(batch) < pool.batch_size:
            item = held.popleft() if held else next(items, None)
            if item is None:
                break
            if alone(item):
                if batch:
                    held.append(item)
                    break
                return [item]
            batch.append(item)
        return batch

    def finish(record: Record) -> None:
        manifest.add(record)
        if record.status == FAILED:
            summary.failed += 1
            summary.failures.append(record)
        else:
            summary.ok += 1
        if on_record:
            on_record(record)

    while True:
        while free and (retry or held or not exhausted):
            slot, gen = free.popleft()
            if gen != pool.generation[slot]:
                continue  # a slot of a dead actor
            batch = next_batch()
            if not batch:
                exhausted = True
                free.appendleft((slot, gen))
                break
            in_flight[pool.slots[slot].process_batch.remote(batch)] = (slot, gen, batch)
            summary.batches += 1
        if not in_flight:
            if pool.alive == 0 and (retry or held or not exhausted):
                raise FaceveilError("every Ray worker was lost and none could be restarted; "
                                    "finished files are recorded: run the same command again to resume")
            break
        ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
        bar.tick()
        for ref in ready:
            slot, gen, batch = in_flight.pop(ref)
            try:
                outcomes = ray.get(ref)
            except actor_died as exc:
                if gen == pool.generation[slot] and pool.replace(slot):
                    free.extend((slot, pool.generation[slot]) for _ in range(DEPTH))
                for item in batch:
                    if item.attempt + 1 < MAX_ATTEMPTS:
                        summary.retried += 1
                        retry.append(replace(item, attempt=item.attempt + 1))
                    else:
                        finish(Record(item.input, FAILED, item.output, exit_code=1,
                                      error=f"{item.input}: the worker died while processing it ({type(exc).__name__})"))
                continue
            except ray.exceptions.RayTaskError as exc:
                for item in batch:
                    finish(Record(item.input, FAILED, item.output, exit_code=1, error=f"{item.input}: {exc}"))
                free.append((slot, gen))
                continue
            free.append((slot, gen))
            for item, outcome in zip(batch, outcomes):
                if outcome.needs_key is not None:
                    salt, params = outcome.needs_key
                    if item.input in key_retried:  # had the secret and still refused: report, do not loop
                        finish(outcome.record)
                        continue
                    try:
                        pool.derive(salt, params)  # no-op when another item already brought it in
                    except FaceveilError as exc:
                        finish(Record(item.input, FAILED, item.output, exit_code=exc.exit_code, error=f"{item.input}: {exc}"))
                        continue
                    key_retried.add(item.input)
                    retry.append(item)
                    continue
                finish(outcome.record)
