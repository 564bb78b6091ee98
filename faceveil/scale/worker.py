"""The long-lived worker: one per Ray actor, holding the detector and the method for its whole life.

Per item it runs the *single-file* code path of ``faceveil.api`` (``Anonymizer.process_file`` /
``api.recover`` on one file, the video pipeline for videos; a batch of images goes through
``Anonymizer.process_files``, which writes what one-by-one calls write), so a cluster run and a local
run give the same bytes for the same inputs and seed. Remote inputs are fetched to a scratch folder
and outputs published with one atomic PUT; local outputs are written with ``faceveil.io.atomic``.

A failing file returns a failed record; it never takes the worker down.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from faceveil.crypto.keys import DerivedKeyMissingError, PassphraseKey
from faceveil.errors import FaceveilError
from faceveil.scale.job import ANONYMIZE, Item, Job
from faceveil.scale.manifest import FAILED, OK, Record

BATCH_LEARNED = 8  # default images per call for learned methods (docs/scale.md, "Batching")
SCRATCH_PREFIX = "faceveil-worker-"  # + pid: a folder whose process is gone is swept by the next worker


@dataclass
class Outcome:
    record: Record
    needs_key: tuple[bytes, tuple[int, int, int]] | None = None  # recover: (salt, argon2 params) to derive


class Worker:
    def __init__(self, job: Job):
        from faceveil.crypto.keys import X25519Identity

        self.job = job
        self._transport = X25519Identity.generate()  # ephemeral: secrets arrive wrapped for it
        self._anonymizer = None
        self._passphrase_key = None  # PassphraseKey.from_master (anonymize: the run's; recover: per salt)
        self._identities: list = []
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.sweep = False  # a restarted worker sweeps the temp files its dead predecessor left (first batch)
        if job.passphrase_recovery:
            from faceveil.crypto.keys import PassphraseKey

            self._passphrase_key = PassphraseKey(b"", None, None)  # secrets per salt arrive via add_secret

    # --- set-up -------------------------------------------------------------------------------

    def transport_key(self) -> bytes:
        return self._transport.recipient.raw

    def setup(self, passphrase_secret: dict | None = None, private_keys: list[dict] = ()) -> str:
        """Unwrap the secrets and load the models (once per worker). Returns the worker's name."""
        from faceveil.scale.keys import identity_from_bytes, open_on_worker

        job = self.job
        self._apply_runtime()
        if passphrase_secret is not None:
            self._add_master(job.passphrase_salt, job.argon2, open_on_worker(passphrase_secret, self._transport, job.run, "passphrase"))
        for stanza in private_keys:
            self._identities.append(identity_from_bytes(open_on_worker(stanza, self._transport, job.run, "x25519")))
        if job.command == ANONYMIZE:
            from faceveil.api import Anonymizer
            from faceveil.crypto.keys import X25519Recipient

            s = job.anonymize
            recipients = [X25519Recipient.from_bytes(pem) for pem in job.public_keys]
            if self._passphrase_key is not None:
                recipients.append(self._passphrase_key)
            self._anonymizer = Anonymizer(
                method=s.method, method_options=dict(s.method_options), detector=s.detector, threshold=s.threshold,
                recipients=recipients if s.payload != "none" else [], payload=s.payload, keep_metadata=s.keep_metadata,
                keep_icc=s.keep_icc, quality=s.quality, require_faces=s.require_faces, seed=s.seed,
                detector_options=dict(s.detector_options), **({"faces": s.faces} if s.faces is not None else {}),
            )
        return self.name

    def _apply_runtime(self) -> None:
        """--threads / --device in this worker's process (thread counts are per process: the driver's
        own settings do not reach the actors)."""
        job = self.job
        if job.command == ANONYMIZE and job.anonymize.runtime is not None:
            job.anonymize.runtime.apply(job.anonymize.method)
        elif job.command != ANONYMIZE and job.recover is not None and job.recover.runtime is not None:
            job.recover.runtime.apply_recovery(from_pixels=job.recover.from_pixels)

    def add_secret(self, salt: bytes, argon2: tuple[int, int, int], stanza: dict) -> None:
        """Recover with a passphrase: the derived secret for one more salt, wrapped for this worker."""
        from faceveil.scale.keys import open_on_worker

        self._add_master(salt, argon2, open_on_worker(stanza, self._transport, self.job.run, "passphrase"))

    def _add_master(self, salt: bytes, argon2, master: bytes) -> None:
        from faceveil.crypto.keys import Argon2Params, PassphraseKey

        params = Argon2Params(*argon2)
        if self._passphrase_key is None:  # anonymize: the run's salt is the one it seals with
            self._passphrase_key = PassphraseKey.from_master(salt, params, master)
        else:
            self._passphrase_key.add_master(salt, params, master)

    # --- work ---------------------------------------------------------------------------------

    def preferred_batch_size(self) -> int:
        """Items per call when --batch-size is not given: learned methods (which hide the face in its
        pixels, and batch crops on a GPU) get BATCH_LEARNED images per call; others one at a time."""
        from faceveil.methods.base import PixelRecoverableMethod

        if self.job.command == ANONYMIZE and isinstance(self._anonymizer.method, PixelRecoverableMethod):
            return BATCH_LEARNED
        return 1

    def process(self, item: Item) -> Outcome:
        return self.process_batch([item])[0]

    def process_batch(self, items: list[Item]) -> list[Outcome]:
        """Several items in one call. Anonymized images go through ``Anonymizer.process_files`` (one
        method call for all their faces); videos and recovery run one by one. Each item keeps its own
        record, its own atomic output and its own failure."""
        started = time.perf_counter()
        from faceveil.runtime import current_threads

        threads = current_threads()  # what --threads set in this process (the record shows it reached the worker)
        records = [Record(input=item.input, output=item.output, status=OK, worker=self.name, threads=threads)
                   for item in items]
        needs_key: list = [None] * len(items)
        scratches: dict[int, Path] = {}
        with contextlib.ExitStack() as stack:
            staged = []  # (n, src, dst, publish)
            for n, item in enumerate(items):
                with _failures(records[n], item):
                    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")))
                    scratches[n] = scratch
                    src, dst, publish = self._local_paths(item, scratch)
                    records[n].input_sha256 = _sha256_file(src)
                    if item.attempt or self.sweep:
                        _sweep_temp_files(dst)
                    staged.append((n, src, dst, publish))
            results = self._run([(src, dst) for _, src, dst, _ in staged])
            for (n, src, dst, publish), result in zip(staged, results):
                record = records[n]
                with _failures(record, items[n]):
                    if isinstance(result, BaseException):
                        raise result
                    report, needs_key[n] = result
                    if report.ok:
                        record.output_sha256 = _sha256_file(dst)
                        record.faces = report.face_count
                        record.payload_bytes = _payload_bytes(dst, report.payload) if self.job.command == ANONYMIZE else 0
                        record.notes = list(report.notes)
                        publish()
                    else:
                        record.status, record.error, record.exit_code = FAILED, report.error, report.exit_code
                if n in scratches:  # a fetched original lives no longer than its item
                    _remove_tree(scratches[n])
            self.sweep = False
        seconds = round((time.perf_counter() - started) / max(1, len(items)), 4)  # a batch's time, shared
        finished = round(time.time(), 4)
        for record in records:
            record.seconds, record.finished = seconds, finished
        return [Outcome(record, key) for record, key in zip(records, needs_key)]

    def _run(self, pairs: list[tuple[Path, Path]]) -> list:
        """Per (src, dst): (report, needs_key), or the exception it raised."""
        from faceveil.api import VIDEO_EXTENSIONS

        results: list = [None] * len(pairs)
        images = []
        for n, (src, dst) in enumerate(pairs):
            if self.job.command == ANONYMIZE and src.suffix.lower() not in VIDEO_EXTENSIONS:
                images.append(n)
                continue
            try:
                results[n] = (self._anonymize(src, dst), None) if self.job.command == ANONYMIZE else self._recover(src, dst)
            except Exception as exc:  # noqa: BLE001 - recorded as that item's failure
                results[n] = exc
        if images:
            # overwrite=True: DST belongs to this engine's runs (checked by the driver), and an output
            # without an ok record is the leftover of a worker that died; it is replaced atomically.
            try:
                done = self._anonymizer.process_files([pairs[n] for n in images], overwrite=True,
                                                      protect=[pairs[n][0] for n in images])
            except Exception as exc:  # noqa: BLE001 - a bug outside any one file: each item fails, the worker goes on
                done = [exc] * len(images)
            for n, result in zip(images, done):
                results[n] = result if isinstance(result, BaseException) else (result, None)
        return results

    def _anonymize(self, src: Path, dst: Path):
        """A video (images are batched in _run)."""
        import faceveil.api as api
        import faceveil.pipeline.video as video

        anonymizer, s = self._anonymizer, self.job.anonymize
        settings = s.video or api.VideoSettings()
        return video.anonymize_video_file(anonymizer, src, dst, overwrite=True, protect=[src],
                                          options=settings.options(anonymizer.payload))

    def _recover(self, src: Path, dst: Path):
        import faceveil.api as api

        s = self.job.recover
        identities = list(self._identities) + ([self._passphrase_key] if self._passphrase_key is not None else [])
        report = api.recover(src, dst, private_keys=identities, from_pixels=s.from_pixels,
                             method_options=dict(s.method_options) or None, keep_metadata=s.keep_metadata,
                             overwrite=True, video=s.video, runtime=s.runtime)[0]
        if not report.ok and report.exit_code == 11 and self.job.passphrase_recovery:
            # A file sealed in another run (another salt): ask the driver to derive that run's secret.
            missing = self._missing_salt(src)
            if missing is not None:
                return report, missing
        return report, None

    def _missing_salt(self, src: Path):
        """(salt, argon2 params) this worker lacks the derived secret for: the file is opened once more
        with a probe key that notes the salt it is asked for (images and videos alike: api.recover turns
        the error into a report, so the probe is how the salt gets out)."""
        import faceveil.api as api

        probe = _SaltProbe()
        with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-") as tmp:
            try:
                api.recover(src, Path(tmp) / ("probe" + src.suffix), private_keys=[probe], overwrite=True)
            except (FaceveilError, OSError):
                pass
        if probe.asked is None:
            return None
        salt, p = probe.asked
        return salt, (p.time_cost, p.memory_kib, p.parallelism)

    def _local_paths(self, item: Item, scratch: Path):
        """(src, dst, publish): local paths to run the single-file code on, and the step that makes
        the output visible at DST (nothing for a local DST: the atomic write already did)."""
        job = self.job
        if job.src.is_local:
            src = Path(job.src.path(item.input))
        else:
            src = scratch / "in" / Path(item.input).name
            src.parent.mkdir()
            job.src.fs.get_file(job.src.path(item.input), str(src))
            if job.command != ANONYMIZE:  # a sidecar payload travels with its image
                from faceveil.io.carriers import sidecar_path

                remote_side = str(sidecar_path(job.src.path(item.input))).replace(os.sep, "/")
                if job.src.fs.exists(remote_side):
                    job.src.fs.get_file(remote_side, str(sidecar_path(src)))
        if job.dst.is_local:
            dst = Path(job.dst.path(item.output))
            dst.parent.mkdir(parents=True, exist_ok=True)
            return src, dst, lambda: None
        dst = scratch / "out" / Path(item.output).name
        dst.parent.mkdir()

        def publish() -> None:
            from faceveil.io.carriers import sidecar_path

            fs, remote = job.dst.fs, job.dst.path(item.output)
            side = sidecar_path(dst)
            if side.exists():  # sidecar first: an output never exists without its payload
                fs.put_file(str(side), str(sidecar_path(remote)).replace(os.sep, "/"))
            fs.put_file(str(dst), remote)  # one PUT: atomic on object stores

        return src, dst, publish


@contextlib.contextmanager
def _failures(record: Record, item: Item):
    """Whatever one item raises becomes its failed record; it never takes the worker (or the batch) down."""
    try:
        yield
    except FaceveilError as exc:
        record.status, record.error, record.exit_code = FAILED, str(exc), exc.exit_code
    except OSError as exc:  # input vanished since the listing, storage refused a read or a write
        record.status, record.error, record.exit_code = FAILED, f"{item.input}: {exc.strerror or exc}", 3
    except Exception as exc:  # a bug on one file: that file fails, the worker goes on
        record.status, record.error, record.exit_code = FAILED, f"{item.input}: internal error ({type(exc).__name__}: {exc})", 1


def _sha256_file(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _payload_bytes(dst: Path, where: list[str]) -> int:
    from faceveil.io.carriers import extract_payload, sidecar_path

    if "embedded" in where and dst.suffix.lower() not in (".mp4", ".mkv", ".mov", ".webm", ".m4v"):
        blob = extract_payload(dst.read_bytes())
        if blob is not None:
            return len(blob)
    side = sidecar_path(dst)
    return side.stat().st_size if side.exists() else 0


def _sweep_temp_files(dst: Path) -> None:
    """Remove what a killed attempt left: faceveil.io.atomic's hidden ``.NAME.*.tmp`` files for this
    output (and its sidecar). Only for retried items, so a normal item never scans its directory."""
    if not dst.parent.is_dir():
        return
    for leftover in dst.parent.glob(f".{dst.name}*.tmp"):
        leftover.unlink(missing_ok=True)


class _SaltProbe(PassphraseKey):
    """An opening key that holds nothing and notes the first (salt, params) a container asks for."""

    def __init__(self):
        super().__init__(b"", None, None)
        self.asked = None

    def master_secret(self, salt, params):
        if self.asked is None:
            self.asked = (bytes(salt), params)
        raise DerivedKeyMissingError(bytes(salt), params)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def sweep_stale_scratch(root: str | None = None) -> int:
    """Remove scratch folders of worker processes that no longer run (killed: no cleanup ran), so a
    fetched original never outlives its worker by more than the next worker's start-up."""
    import re

    root = Path(root or tempfile.gettempdir())
    removed = 0
    for entry in root.glob(f"{SCRATCH_PREFIX}*"):
        m = re.match(rf"{SCRATCH_PREFIX}(\d+)-", entry.name)
        if m is None or not entry.is_dir() or _pid_alive(int(m.group(1))):
            continue
        _remove_tree(entry)
        removed += 1
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class BatchWorker(Worker):
    """The Ray Data side: the class ``map_batches`` runs over its actor pool. Ray Data starts, places,
    restarts (a dead actor) and retries (its batch) these; each one sweeps dead workers' scratch,
    fetches its secrets from the run's key broker (wrapped for its own ephemeral key), loads the
    models once, then turns batches of listed items into outcome rows (one JSON string per item)."""

    def __init__(self, job: Job, broker: str | None = None):
        import ray

        sweep_stale_scratch()
        super().__init__(job)
        self.sweep = bool(getattr(ray.get_runtime_context(), "was_current_actor_reconstructed", False))
        granted = {"seal": None, "derived": [], "privates": []}
        if broker:
            granted = ray.get(ray.get_actor(broker).secrets_for.remote(self.transport_key()))
        seal = granted["seal"]
        self.setup(seal[2] if seal else None, granted["privates"])
        for salt, argon2, stanza in granted["derived"]:
            self.add_secret(salt, tuple(argon2), stanza)

    def __call__(self, batch: dict) -> dict:
        import json
        from dataclasses import asdict

        items, out = [], []
        for rel, output, listed, skipped in zip(batch["input"], batch["output"], batch["listed"], batch["skipped"]):
            if not rel:  # the listing's closing tally passes through
                out.append(json.dumps({"kind": "tally", "listed": int(listed), "skipped": int(skipped)}))
            else:
                items.append(Item(str(rel), str(output)))
        for outcome in self.process_batch(items) if items else []:
            key = outcome.needs_key
            out.append(json.dumps({"kind": "record", "record": asdict(outcome.record),
                                   "needs_key": None if key is None else [key[0].hex(), list(key[1])]}))
        return {"outcome": out}
