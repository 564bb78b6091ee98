"""The driver: checks the locations, reads the resume state from the manifest, and runs the job as a
Ray Data pipeline; it writes the manifest as outcomes stream back and returns a summary.

    listing (a read task: lazy fsspec walk, minus what the manifest says is done)
      -> map_batches(BatchWorker, actor pool)   models loaded once per actor, outputs written there
      -> the driver: one manifest record per item, flushed per block that comes back

What Ray does, we do not: placement (CPUs/GPUs per actor), restarting a dead actor and retrying its
batch (``max_restarts``/``max_task_retries``), backpressure and progress (Ray Data's). What we add:

* secrets go through a key broker actor (``keys.KeyBroker``): each worker gets them wrapped for its
  own ephemeral key; a passphrase never leaves this process;
* recover with a passphrase: the salts named in SRC's run descriptions are derived before the
  workers start; a file sealed under another salt comes back as "needs key" and is redone in a
  second pass once that salt is derived (at most MAX_SALTS per run);
* a batch whose worker died MAX_TASK_RETRIES + 1 times is given up (Ray Data's ``max_errored_blocks``):
  its items get no record, are counted as ``lost`` and are redone by the next run.

Memory on the driver: the resume state (one entry per input already done, shipped once to the
listing task through the object store) plus Ray Data's bounded buffers; never the full listing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field

from faceveil.errors import FaceveilError, InputError, KeyMaterialError, OutputExistsError
from faceveil.scale.job import ANONYMIZE, ClusterOptions, Job
from faceveil.scale.location import Location, iter_files
from faceveil.scale.manifest import FAILED, STATE_DIR, Manifest, Record

MAX_TASK_RETRIES = 2  # a batch is tried 3 times in all when its worker dies (a file that kills workers ends there)
FLUSH_SECONDS = 1.0  # manifest: outcomes are written at most this long after they arrive (and every 256)
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
    skipped: int = 0  # done by an earlier run (its latest manifest record is ok)
    ok: int = 0
    failed: int = 0
    lost: int = 0  # no outcome: a batch given up after its worker died MAX_TASK_RETRIES + 1 times
    retried: int = 0  # recover: items redone once their salt's secret was derived
    workers: int = 0
    batch_size: int = 0  # images per worker call (--batch-size, or the method's default)
    seconds: float = 0.0
    startup_seconds: float = 0.0  # joining/starting Ray until the first outcome came back
    dashboard: str | None = None
    failures: list[Record] = field(default_factory=list)
    worker_names: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return (self.ok + self.failed) / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        codes = {r.exit_code or 1 for r in self.failures} | ({1} if self.lost else set())
        if not codes:
            return 0
        return codes.pop() if len(codes) == 1 else 1

    @property
    def manifest(self) -> str:
        return f"{self.dst.rstrip('/')}/{STATE_DIR}/manifest"

    def to_dict(self) -> dict:
        return {
            "command": self.command, "engine": "ray", "src": self.src, "dst": self.dst, "run": self.run,
            "listed": self.listed, "skipped": self.skipped, "ok": self.ok, "failed": self.failed, "lost": self.lost,
            "retried": self.retried, "workers": self.workers, "batch_size": self.batch_size,
            "seconds": round(self.seconds, 3), "startup_seconds": round(self.startup_seconds, 3),
            "files_per_s": round(self.rate, 3), "dashboard": self.dashboard, "manifest": self.manifest,
            "failures": [{"input": r.input, "error": r.error, "exit_code": r.exit_code} for r in self.failures],
        }

    def describe(self) -> str:
        return (f"{self.command} on ray: {self.listed} file(s) listed, {self.ok} done now, {self.skipped} already done, "
                f"{self.failed} failed" + (f", {self.lost} lost (workers died; run again)" if self.lost else "")
                + f"; {self.seconds:.1f} s, {self.rate:.2f} files/s on {self.workers} worker(s); manifest {self.manifest}")


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


# --- the run ------------------------------------------------------------------------------------


def run(job: Job, cluster: ClusterOptions, secrets: DriverSecrets, *, overwrite: bool = False,
        progress: bool = True, description: dict | None = None, on_record=None) -> Summary:
    """Run ``job`` on Ray. Joins ``cluster.address`` or starts a local runtime (stopped at the end)."""
    manifest = Manifest(job.dst, job.run, flush_records=256, flush_seconds=FLUSH_SECONDS)
    check_locations(job.src, job.dst, manifest, overwrite)
    summary = Summary(job.command, job.src.url, job.dst.url, job.run)
    listing = iter_files(job.src, _extensions(), frozenset({STATE_DIR}))
    if next(listing, None) is None:  # a missing SRC fails here, before Ray starts
        raise InputError(f"no input images found in {job.src.url}")
    done = manifest.load_done() if manifest.exists() else {}
    manifest.start((description or {}) | {"run": job.run, "command": job.command, "src": job.src.url, "dst": job.dst.url})
    t0 = time.monotonic()
    if _all_done(job, done, summary):  # a finished run, resumed, starts neither Ray nor a worker
        summary.seconds = time.monotonic() - t0
        return summary
    summary.listed = summary.skipped = 0  # the listing task counts them again
    ray, started_here, summary.dashboard = _connect(cluster, quiet=not progress)
    if summary.dashboard and progress:
        print(f"[ray] dashboard: {summary.dashboard}", file=sys.stderr)
    try:
        summary.workers = _worker_count(ray, cluster)
        summary.batch_size = cluster.batch_size or _default_batch_size(job)
        broker = _Broker(ray, job, secrets)
        if job.command != ANONYMIZE and secrets.opener is not None:
            for salt, params in _known_salts(job.src):
                broker.derive(salt, params)
        pending: list[dict] = []  # recover: items to redo once their salt is derived
        first = [True]

        def finish(record: Record) -> None:
            if first[0]:
                summary.startup_seconds, first[0] = time.monotonic() - t0, False
            manifest.add(record)
            if record.status == FAILED:
                summary.failed += 1
                summary.failures.append(record)
            else:
                summary.ok += 1
            if record.worker and record.worker not in summary.worker_names:
                summary.worker_names.append(record.worker)
            if on_record:
                on_record(record)

        def consume(dataset, retrying: bool) -> None:
            for block in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                with lock:
                    consume_block(block, retrying)

        def consume_block(block, retrying: bool) -> None:
            for text in block["outcome"]:
                outcome = json.loads(str(text))
                if outcome["kind"] == "tally":
                    summary.listed += outcome["listed"]
                    summary.skipped += outcome["skipped"]
                    continue
                record = Record.from_dict(outcome["record"])
                need = outcome.get("needs_key")
                if need and not retrying:
                    try:
                        broker.derive(bytes.fromhex(need[0]), tuple(need[1]))
                        pending.append({"input": record.input, "output": record.output, "listed": 0, "skipped": 0})
                        continue
                    except KeyMaterialError as exc:
                        record.error, record.exit_code = f"{record.input}: {exc}", exc.exit_code
                finish(record)

        lock, stop = threading.Lock(), threading.Event()
        flusher = threading.Thread(target=_flush_every, args=(manifest, lock, stop), daemon=True)
        flusher.start()
        context = _data_context(progress)
        try:
            with _worker_errors():
                consume(_pipeline(ray, job, cluster, summary, _listing(job, cluster, done, summary.batch_size, ray),
                                  broker.name), False)
                if pending:
                    summary.retried = len(pending)
                    redo = ray.data.from_items(pending, override_num_blocks=len(pending))
                    consume(_pipeline(ray, job, cluster, summary, redo, broker.name), True)
        finally:
            stop.set()
            flusher.join()
            context.restore()
        summary.lost = max(0, summary.listed - summary.skipped - summary.ok - summary.failed)
        if job.dst.is_local:  # every writer of this run is done: a killed one's temp files are leftovers
            from faceveil.io.atomic import remove_temp_leftovers

            remove_temp_leftovers(job.dst.root)
    finally:
        manifest.flush()
        summary.seconds = time.monotonic() - t0
        if started_here:
            ray.shutdown()
    return summary


def _extensions() -> frozenset[str]:
    from faceveil.api import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

    return frozenset(IMAGE_EXTENSIONS | VIDEO_EXTENSIONS)


def _all_done(job: Job, done: dict[str, str], summary: Summary) -> bool:
    """Whether every listed input has an ok record (the manifest alone says so: no per-file check)."""
    for rel in iter_files(job.src, _extensions(), frozenset({STATE_DIR})):
        summary.listed += 1
        if done.get(rel) != job.output_name(rel):
            return False
        summary.skipped += 1
    return True


def _default_batch_size(job: Job) -> int:
    """Learned methods (which hide the face in its pixels, and batch crops on a GPU) get BATCH_LEARNED
    images per call; others, and recovery, one at a time."""
    from faceveil.methods.base import hides_in_pixels
    from faceveil.scale.worker import BATCH_LEARNED

    return BATCH_LEARNED if job.command == ANONYMIZE and hides_in_pixels(job.anonymize.method) else 1


def _listing(job: Job, cluster: ClusterOptions, done: dict[str, str], block_rows: int, ray):
    """The Ray Data source: one read task that walks SRC lazily (on a cluster node, so an object store
    is listed next to the data) and yields blocks of items still to do, then one tally row."""
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    done_ref = ray.put(done) if done else None

    def read():
        import pyarrow as pa
        import ray as ray_

        finished = ray_.get(done_ref) if done_ref is not None else {}
        rows: list[tuple[str, str]] = []
        listed = skipped = 0
        for rel in iter_files(job.src, _extensions(), frozenset({STATE_DIR})):
            listed += 1
            out = job.output_name(rel)
            if finished.get(rel) == out:
                skipped += 1
                continue
            rows.append((rel, out))
            if len(rows) >= block_rows:  # one block = one worker call: blocks spread over the actors
                yield _block(pa, rows)
                rows = []
        rows.append(("", ""))  # the tally
        yield _block(pa, rows, listed, skipped)

    class Source(Datasource):
        def estimate_inmemory_data_size(self):
            return None

        def get_name(self):
            return "ListInputs"

        def get_read_tasks(self, parallelism, per_task_row_limit=None, data_context=None):
            meta = BlockMetadata(num_rows=None, size_bytes=None, input_files=None, exec_stats=None)
            return [ReadTask(read, meta)]

    env = cluster.runtime_env((job.src.protocol, job.dst.protocol))
    return ray.data.read_datasource(Source(), override_num_blocks=1, num_cpus=0, **({"runtime_env": env} if env else {}))


def _block(pa, rows, listed: int = 0, skipped: int = 0):
    n = len(rows)
    return pa.table({"input": [r[0] for r in rows], "output": [r[1] for r in rows],
                     "listed": [0] * (n - 1) + [listed], "skipped": [0] * (n - 1) + [skipped]})


@contextlib.contextmanager
def _worker_errors():
    """A faceveil error raised where Ray Data runs our code (a worker that cannot load its method, a
    listing that cannot read SRC) stops the run as that error: one line and its exit code, not a Ray
    traceback. Ray Data's own log of it is silenced for the run (we report it)."""
    quiet = logging.getLogger("ray.data.exceptions")
    level, quiet.level = quiet.level, logging.CRITICAL
    try:
        yield
    except FaceveilError:
        raise
    except Exception as exc:  # noqa: BLE001 - only re-raised as our own when it carries one
        error = _faceveil_cause(exc)
        if error is None:
            raise
        raise error from None
    finally:
        quiet.setLevel(level)


def _faceveil_cause(exc: BaseException) -> FaceveilError | None:
    """The FaceveilError behind a Ray exception: found in its chain, or (an actor whose __init__
    raised: Ray keeps only the text) rebuilt from its ``faceveil.errors.Name: message`` line."""
    import re

    import faceveil.errors as errors

    todo, seen = [exc], set()
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, FaceveilError):
            return e
        todo += [getattr(e, "cause", None), e.__cause__, e.__context__]
    found = re.findall(r"faceveil\.errors\.(\w+): ([^\n]+)", str(exc))
    if found:
        name, message = found[-1]
        cls = getattr(errors, name, None)
        if isinstance(cls, type) and issubclass(cls, FaceveilError):
            try:
                return cls(message.strip())
            except TypeError:  # an error class with other arguments: keep the message, exit 1
                return FaceveilError(message.strip())
    return None


def _flush_every(manifest: Manifest, lock, stop) -> None:
    """Outcomes reach the manifest within FLUSH_SECONDS even while every worker is on a long item."""
    while not stop.wait(FLUSH_SECONDS):
        with lock:
            manifest.flush()


class _data_context:
    """Ray Data settings for this run, restored afterwards (a Python caller may use Ray Data too)."""

    SETTINGS = ("enable_progress_bars", "max_errored_blocks", "print_on_execution_start", "target_max_block_size")

    def __init__(self, progress: bool):
        from ray.data import DataContext

        self.context = DataContext.get_current()
        self.saved = {name: getattr(self.context, name) for name in self.SETTINGS}
        self.context.enable_progress_bars = progress
        self.context.print_on_execution_start = progress
        self.context.max_errored_blocks = -1  # a batch given up (its worker died again and again) does not stop the run
        # one row per block: otherwise a read task's items are merged into one block and handed to one
        # actor as one task; the actor pool still bundles --batch-size rows per call
        self.context.target_max_block_size = 1

    def restore(self) -> None:
        for name, value in self.saved.items():
            setattr(self.context, name, value)


def _pipeline(ray, job: Job, cluster: ClusterOptions, summary: Summary, dataset, broker: str):
    from ray.data import ActorPoolStrategy

    from faceveil.scale.worker import BatchWorker

    remote = {"max_restarts": -1, "max_task_retries": MAX_TASK_RETRIES}
    env = cluster.runtime_env((job.src.protocol, job.dst.protocol))
    if env:
        remote["runtime_env"] = env
    with warnings.catch_warnings():  # max_restarts / max_task_retries have no named parameter yet
        warnings.simplefilter("ignore")
        return dataset.map_batches(
            BatchWorker, fn_constructor_kwargs={"job": job, "broker": broker}, batch_size=summary.batch_size,
            compute=ActorPoolStrategy(size=summary.workers), num_cpus=cluster.cpus_per_worker,
            num_gpus=cluster.gpus_per_worker or None, batch_format="numpy", **remote,
        )


def _known_salts(src: Location) -> list[tuple[bytes, tuple]]:
    """(salt, argon2) of every anonymize run whose description SRC holds (public values: the salt and
    cost are in every file too); a rerun or any listing order derives them before work starts."""
    found = []
    folder = f"{STATE_DIR}/runs"
    try:
        if src.is_local:
            from pathlib import Path

            names = sorted(p.name for p in Path(src.path(folder)).glob("*.json"))
        else:
            names = sorted(n.rsplit("/", 1)[-1] for n in src.fs.ls(src.path(folder), detail=False) if n.endswith(".json"))
        for name in names:
            d = json.loads(src.read_bytes(f"{folder}/{name}"))
            if d.get("passphrase_salt") and d.get("argon2"):
                found.append((bytes.fromhex(d["passphrase_salt"]), tuple(d["argon2"])))
    except (OSError, ValueError, FileNotFoundError):
        return found
    return list(dict.fromkeys(found))[:MAX_SALTS]


class _Broker:
    """The driver's side of ``keys.KeyBroker``: starts it on this node, seals secrets to it."""

    def __init__(self, ray, job: Job, secrets: DriverSecrets):
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from faceveil.scale.keys import KeyBroker, broker_name, private_key_bytes

        self.ray, self.job, self.secrets = ray, job, secrets
        self.name = broker_name(job.run)
        self.derived: set[tuple[bytes, tuple]] = set()
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
        self.actor = ray.remote(KeyBroker).options(name=self.name, num_cpus=0, scheduling_strategy=here).remote(job.run)
        self.key = ray.get(self.actor.transport_key.remote())
        seal = None
        if secrets.seal_master is not None:
            seal = (job.passphrase_salt, job.argon2, self._wrap(secrets.seal_master, "passphrase"))
        privates = [self._wrap(private_key_bytes(i), "x25519") for i in secrets.identities]
        ray.get(self.actor.load.remote(seal, [], privates))

    def _wrap(self, secret: bytes, label: str) -> dict:
        from faceveil.scale.keys import seal_for_worker

        return seal_for_worker(secret, self.key, self.job.run, label)

    def derive(self, salt: bytes, params: tuple) -> None:
        """Recover with a passphrase: Argon2id for one more salt, here; the broker gets it wrapped."""
        from faceveil.crypto.keys import Argon2Params

        if (salt, params) in self.derived:
            return
        if len(self.derived) >= MAX_SALTS:
            raise KeyMaterialError(f"more than {MAX_SALTS} different passphrase salts in one recover run")
        master = self.secrets.opener.master_secret(salt, Argon2Params(*params))
        self.derived.add((salt, params))
        self.ray.get(self.actor.load.remote(None, [(salt, params, self._wrap(master, "passphrase"))], []))


def _worker_count(ray, cluster: ClusterOptions) -> int:
    resources = ray.cluster_resources()
    gpus = cluster.gpus_per_worker or 0.0
    if gpus and resources.get("GPU", 0) < gpus:
        raise InputError(f"--gpus-per-worker {gpus}: the Ray cluster has {resources.get('GPU', 0):g} GPU(s)")
    n = cluster.workers
    if n is None:
        n = int(resources.get("GPU", 0) // gpus) if gpus else int(resources.get("CPU", 1) // cluster.cpus_per_worker)
    if n < 1:
        raise InputError("--workers must be at least 1")
    return n


SECRET_ENV = ("FACEVEIL_PASSPHRASE", "FACEVEIL_COMPAT_PASSWORD")  # what faceveil.cli reads secrets from


def strip_secret_env() -> list[str]:
    """Remove faceveil's secret variables from this process's environment, so that a local Ray
    runtime started from here (gcs_server, raylet, dashboard, workers inherit it) never holds them.
    The CLI has read them already; returns the names removed."""
    removed = [name for name in SECRET_ENV if name in os.environ]
    for name in removed:
        del os.environ[name]
    return removed


def _connect(cluster: ClusterOptions, quiet: bool = False):
    """(ray module, whether we started the runtime, dashboard URL or None)."""
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        # a token given means a token cluster (docs/scale.md); Ray reads the mode when it is imported
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        import ray
        import ray.data  # noqa: F401 - Ray Data needs pandas and pyarrow (the `ray` extra)
    except ImportError as exc:
        raise InputError(f"--engine ray needs Ray Data ({exc}): pip install 'faceveil[ray]' (or ./scripts/install.sh)") from None
    if ray.is_initialized():
        return ray, False, None
    strip_secret_env()
    kwargs = {"logging_level": "WARNING", "log_to_driver": not quiet}
    try:
        if cluster.address:
            context = ray.init(address=cluster.address, **kwargs)
        else:
            context = ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        hint = ""
        if cluster.address and os.environ.get("RAY_AUTH_MODE") != "token":
            hint = ("; if the cluster uses token authentication, set RAY_AUTH_TOKEN_PATH (or RAY_AUTH_TOKEN) "
                    "or RAY_AUTH_MODE=token (docs/scale.md)")
        raise InputError(f"cannot reach the Ray cluster at {cluster.address or 'local'}: {exc}{hint}") from None
    url = getattr(context, "dashboard_url", None)
    return ray, True, (f"http://{url}" if url and not url.startswith("http") else url) or None
