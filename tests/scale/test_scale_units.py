"""faceveil.scale pieces that need no Ray runtime: listing, manifest, key transport, CLI checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from faceveil.crypto.keys import Argon2Params, DerivedKeyMissingError, PassphraseKey, X25519Identity
from faceveil.errors import KeyMaterialError, OutputExistsError
from faceveil.scale.cli import as_url
from faceveil.scale.driver import Summary, check_locations
from faceveil.scale.job import Job
from faceveil.scale.keys import open_on_worker, seal_for_worker
from faceveil.scale.location import Location, iter_files
from faceveil.scale.manifest import FAILED, OK, Manifest, Record

EXTS = frozenset({".png", ".jpg"})


def _tree(root: Path) -> None:
    for rel in ("b.png", "a/z.jpg", "a/c.png", "a/notes.txt", ".faceveil/x.png", "A.PNG"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x")


def test_local_listing_is_sorted_recursive_filtered_and_skips_state(tmp_path):
    _tree(tmp_path)
    names = list(iter_files(Location.parse(tmp_path), EXTS, frozenset({".faceveil"})))
    assert names == ["A.PNG", "b.png", "a/c.png", "a/z.jpg"]


def test_fsspec_listing_matches_local_listing(tmp_path):
    import fsspec

    _tree(tmp_path)
    fs = fsspec.filesystem("memory")
    for p in tmp_path.rglob("*"):
        if p.is_file():
            fs.pipe_file(f"/listing-test/{p.relative_to(tmp_path).as_posix()}", p.read_bytes())
    mem = Location.parse("memory://listing-test")
    assert not mem.is_local
    assert list(iter_files(mem, EXTS, frozenset({".faceveil"}))) == list(
        iter_files(Location.parse(f"file://{tmp_path}"), EXTS, frozenset({".faceveil"})))
    assert Location.parse(f"file://{tmp_path}").is_local


def test_listing_is_lazy(tmp_path):
    _tree(tmp_path)
    it = iter_files(Location.parse(tmp_path), EXTS, frozenset({".faceveil"}))
    assert next(it) == "A.PNG"
    (tmp_path / "a" / "late.png").write_bytes(b"x")  # a folder not read yet: the listing still sees it
    assert list(it) == ["b.png", "a/c.png", "a/late.png", "a/z.jpg"]


def test_listing_refuses_a_file_or_missing_folder(tmp_path):
    from faceveil.errors import InputError

    (tmp_path / "f.png").write_bytes(b"x")
    for bad in (tmp_path / "f.png", tmp_path / "missing"):
        with pytest.raises(InputError, match="folder"):
            list(iter_files(Location.parse(bad), EXTS))


def test_manifest_latest_record_wins_and_parts_are_whole_files(tmp_path):
    dst = Location.parse(tmp_path)
    m1 = Manifest(dst, "20260101T000000-aaaaaa", flush_records=2)
    assert not m1.exists()
    m1.start({"command": "anonymize"})
    m1.extend([Record("a.png", OK, "a.png"), Record("b.png", FAILED, "b.png", error="bad"), Record("c.png", OK, "c.png")])
    m1.flush()
    m2 = Manifest(dst, "20260102T000000-bbbbbb")
    m2.add(Record("b.png", OK, "b.png"))
    m2.add(Record("c.png", FAILED, "c.png", error="redone and failed"))
    m2.flush()
    assert m2.exists()
    assert Manifest(dst, "x").load_done() == {"a.png": "a.png", "b.png": "b.png"}
    parts = sorted((tmp_path / ".faceveil" / "manifest").iterdir())
    assert len(parts) == 3 and all(p.read_text().endswith("\n") for p in parts)
    assert not list(tmp_path.rglob("*.tmp"))
    record = json.loads(parts[0].read_text().splitlines()[0])
    assert set(record) >= {"input", "output", "input_sha256", "output_sha256", "faces", "payload_bytes", "status",
                           "error", "worker", "seconds", "run"}


def test_manifest_on_an_fsspec_destination():
    dst = Location.parse("memory://manifest-test/out")
    m = Manifest(dst, "20260101T000000-cccccc")
    m.add(Record("x/y.png", OK, "x/y.png"))
    m.flush()
    assert Manifest(dst, "later").load_done() == {"x/y.png": "x/y.png"}


def test_worker_secret_is_wrapped_for_one_worker_and_one_run():
    worker, other = X25519Identity.generate(), X25519Identity.generate()
    secret = bytes(range(32))
    stanza = seal_for_worker(secret, worker.recipient.raw, "run-1", "passphrase")
    assert secret.hex() not in json.dumps(stanza) and stanza["type"] == "x25519"
    assert open_on_worker(stanza, worker, "run-1", "passphrase") == secret
    from faceveil.errors import FaceveilError

    for identity, run, label in ((other, "run-1", "passphrase"), (worker, "run-2", "passphrase"), (worker, "run-1", "x25519")):
        with pytest.raises(FaceveilError):
            open_on_worker(stanza, identity, run, label)


def test_master_only_key_seals_like_the_passphrase_and_opens_only_its_salt():
    from faceveil.crypto.container import open_container, seal

    params = Argon2Params(time_cost=1, memory_kib=8 * 1024, parallelism=1)
    full = PassphraseKey.create("pw", params, allow_weak=True)
    worker_key = PassphraseKey.from_master(full.salt, params, full.master_secret(full.salt, params))
    kwargs = dict(regions=[], method="solid", method_params={}, image_shape=(4, 4, 3), faces=[],
                  pixel_sha256=bytes(32))
    blob = seal(recipients=[worker_key], **kwargs)
    assert open_container(blob, [PassphraseKey.for_opening("pw")]).info.method == "solid"  # the passphrase opens it
    assert open_container(blob, [worker_key]).info.method == "solid"
    other_run = seal(recipients=[PassphraseKey.create("pw", params, allow_weak=True)], **kwargs)
    with pytest.raises(DerivedKeyMissingError) as info:
        open_container(other_run, [worker_key])
    assert info.value.params == params
    import pickle

    assert pickle.loads(pickle.dumps(info.value)).salt == info.value.salt
    with pytest.raises(KeyMaterialError):
        worker_key.add_master(b"short", params, bytes(32))


def test_urls_survive_typer_paths():
    assert as_url(Path("s3://bucket/a/b")) == "s3://bucket/a/b"
    assert as_url(Path("file:///tmp/x")) == "file:///tmp/x"
    assert as_url(Path("memory://m/x")) == "memory://m/x"
    assert as_url(Path("/tmp/x")) == "/tmp/x"
    assert as_url(Path("rel/dir")) == "rel/dir"


def test_output_names_follow_the_single_process_rules():
    job = Job("anonymize", Location.parse("/a"), Location.parse("/b"), "r")
    assert job.output_name("x/y.png") == "x/y.png"
    assert job.output_name("clip.avi") == "clip.mkv"  # AVI cannot keep timestamps
    fmt = Job("anonymize", Location.parse("/a"), Location.parse("/b"), "r", output_format="webp")
    assert fmt.output_name("x/y.jpg") == "x/y.webp"


def test_destination_checks(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    (dst / "someone-elses.png").write_bytes(b"x")
    with pytest.raises(OutputExistsError, match="not empty"):
        check_locations(Location.parse(src), Location.parse(dst), Manifest(Location.parse(dst), "r"), overwrite=False)
    check_locations(Location.parse(src), Location.parse(dst), Manifest(Location.parse(dst), "r"), overwrite=True)
    from faceveil.errors import InputError

    with pytest.raises(InputError, match="contain each other"):
        check_locations(Location.parse(src), Location.parse(src / "out"), Manifest(Location.parse(src / "out"), "r"), False)
    fresh = tmp_path / "new" / "deeper"
    check_locations(Location.parse(src), Location.parse(fresh), Manifest(Location.parse(fresh), "r"), False)
    assert fresh.is_dir()


def test_summary_exit_codes():
    s = Summary("anonymize", "a", "b", "r")
    assert s.exit_code == 0
    s.failures = [Record("x", FAILED, exit_code=3), Record("y", FAILED, exit_code=3)]
    assert s.exit_code == 3
    s.failures.append(Record("z", FAILED, exit_code=6))
    assert s.exit_code == 1


def test_cli_refuses_a_non_empty_foreign_destination_before_starting_ray(tmp_path, passphrase, astronaut):
    from PIL import Image

    from faceveil.cli import main

    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    Image.fromarray(astronaut).save(src / "a.png")
    (dst / "keep.txt").write_text("mine")
    assert main(["anonymize", str(src), "-o", str(dst), "--engine", "ray"]) == 9
    assert main(["anonymize", str(src), str(src), "-o", str(dst), "--engine", "ray"]) == 2  # one folder only: bad usage (issue 12: exit 2)
    assert main(["anonymize", str(src), "-o", str(dst), "--engine", "spark"]) == 2
    assert main(["anonymize", str(src), "-o", str(tmp_path / "new"), "--engine", "ray", "--batch-size", "0"]) == 2
    assert (dst / "keep.txt").read_text() == "mine" and not (dst / "a.png").exists()
    assert np.asarray(Image.open(src / "a.png")).shape == astronaut.shape


def test_seed_makes_single_process_outputs_reproducible(tmp_path, astronaut_png):
    from PIL import Image

    from faceveil import api

    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        api.anonymize(astronaut_png, tmp_path / f"{name}.png", output_options=api.OutputOptions(payload="none"), seed=seed)
        runs[name] = np.asarray(Image.open(tmp_path / f"{name}.png"))
    assert np.array_equal(runs["a"], runs["b"])
    assert not np.array_equal(runs["a"], runs["c"])


def test_worker_fetches_and_publishes_fsspec_urls_in_process(tmp_path, astronaut):
    """The worker's remote path (fetch to scratch, single-file code, one PUT per object, sidecar
    first) on memory://, run in this process: Ray workers cannot share a memory filesystem."""
    import fsspec
    from PIL import Image

    from faceveil import api
    from faceveil.scale.job import AnonymizeSettings, Item, RecoverSettings
    from faceveil.scale.worker import Worker

    fs = fsspec.filesystem("memory")
    png = tmp_path / "a.png"
    Image.fromarray(astronaut).save(png)
    fs.pipe_file("/worker-test/src/x/a.png", png.read_bytes())
    fs.pipe_file("/worker-test/src/x/bad.png", b"nope")
    api.keygen(tmp_path / "k.key")
    pem = (tmp_path / "k.key.pub").read_bytes()
    src, dst = Location.parse("memory://worker-test/src"), Location.parse("memory://worker-test/dst")
    job = Job("anonymize", src, dst, "run-x", output_format="tif", anonymize=AnonymizeSettings(), public_keys=(pem,))
    worker = Worker(job)
    worker.setup()
    out = job.output_name("x/a.png")
    assert out == "x/a.tif"
    good = worker.process(Item("x/a.png", out)).record
    bad = worker.process(Item("x/bad.png", "x/bad.tif")).record
    assert good.ok and good.faces == 1 and good.payload_bytes > 0, good
    assert not bad.ok and bad.exit_code == 3
    assert fs.exists("/worker-test/dst/x/a.tif") and fs.exists("/worker-test/dst/x/a.tif.faceveil")  # TIFF: sidecar
    assert not fs.exists("/worker-test/dst/x/bad.tif")

    from faceveil.crypto.keys import load_key_file
    from faceveil.scale.keys import private_key_bytes, seal_for_worker

    rjob = Job("recover", dst, Location.parse("memory://worker-test/back"), "run-y", output_format=None,
               recover=RecoverSettings(), private_keys=1)
    rworker = Worker(rjob)
    rworker.setup(private_keys=[seal_for_worker(private_key_bytes(load_key_file(tmp_path / "k.key")),
                                                rworker.transport_key(), "run-y", "x25519")])
    rec = rworker.process(Item("x/a.tif", "x/a.tif")).record
    assert rec.ok, rec
    back = tmp_path / "back.tif"
    back.write_bytes(fs.cat_file("/worker-test/back/x/a.tif"))
    assert np.array_equal(np.asarray(Image.open(back)), astronaut)


def test_eval_engine_ray_is_for_method_runs(tmp_path):
    from faceveil.errors import InputError
    from faceveil.eval.cli import EvalRequest
    from faceveil.scale.job import ClusterOptions

    with pytest.raises(InputError, match="--engine ray"):
        EvalRequest(out=tmp_path, anonymized=tmp_path, cluster=ClusterOptions("ray")).validate()
    EvalRequest(out=tmp_path, method="mosaic", cluster=ClusterOptions("ray")).validate()


def test_cluster_flags_are_on_every_command():
    from typer.testing import CliRunner

    from faceveil.cli import app

    for command in (["anonymize"], ["recover"], ["eval"]):
        out = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).output
        for flag in ("--engine", "--address", "--workers", "--gpus-per-worker"):
            assert flag in out, (command, flag)


def test_worker_runs_a_video_as_one_item_and_recovers_it_frame_exactly(tmp_path):
    from faceveil import api
    from faceveil.crypto.keys import load_key_file
    from faceveil.io.video import iter_frames
    from faceveil.scale.job import AnonymizeSettings, Item, RecoverSettings
    from faceveil.scale.keys import private_key_bytes, seal_for_worker
    from faceveil.scale.worker import Worker
    from faceveil.testing import write_synthetic_clip

    (tmp_path / "src").mkdir()
    clip = write_synthetic_clip(tmp_path / "src" / "clip.mp4", seconds=0.4, noise=2.0)
    api.keygen(tmp_path / "k.key")
    settings = AnonymizeSettings(method="solid", video=api.VideoSettings(lossless=True))
    job = Job("anonymize", Location.parse(tmp_path / "src"), Location.parse(tmp_path / "anon"), "run-v",
              output_format=None, anonymize=settings, public_keys=((tmp_path / "k.key.pub").read_bytes(),))
    from faceveil.testing import load_sample
    from PIL import Image

    Image.fromarray(load_sample("astronaut")[:256, 96:352]).save(tmp_path / "src" / "a.png")
    worker = Worker(job)
    worker.setup()
    assert worker.preferred_batch_size() == 1  # a classical method: one image per call by default
    # one call, three items: the video runs alone inside it, the image through process_files, the
    # missing file fails alone; each has its own record
    record, image, missing = (o.record for o in worker.process_batch(
        [Item(n, job.output_name(n)) for n in ("clip.mp4", "a.png", "gone.png")]))
    assert record.ok and record.faces >= 1, record
    assert image.ok and image.faces == 1 and (tmp_path / "anon" / "a.png").exists(), image
    assert not missing.ok and missing.exit_code == 3 and not (tmp_path / "anon" / "gone.png").exists()
    rjob = Job("recover", Location.parse(tmp_path / "anon"), Location.parse(tmp_path / "back"), "run-w",
               recover=RecoverSettings(), private_keys=1)
    rworker = Worker(rjob)
    rworker.setup(private_keys=[seal_for_worker(private_key_bytes(load_key_file(tmp_path / "k.key")),
                                                rworker.transport_key(), "run-w", "x25519")])
    back = rworker.process(Item("clip.mp4", "clip.mp4")).record
    assert back.ok, back

    def frames(path):
        return [f.rgb for f in iter_frames(path)]

    anon, restored = frames(tmp_path / "anon" / "clip.mp4"), frames(tmp_path / "back" / "clip.mp4")
    assert len(restored) == clip.frames
    assert any(not np.array_equal(a, r) for a, r in zip(anon, restored))  # the faces came back...
    original = frames(tmp_path / "src" / "clip.mp4")
    assert all(np.array_equal(o, r) for o, r in zip(original, restored))  # ...exactly (lossless output)


def test_ray_engine_gets_the_mask_boxes_and_speed_options(tmp_path, passphrase, astronaut_png, monkeypatch):
    """--shape/--mask-scale/--boxes/--draw-boxes/--scale/--threads reach the workers' Anonymizer settings."""
    import faceveil.scale as scale
    from faceveil.cli import main
    from faceveil.faces.mask import MaskSpec

    seen = {}

    def fake_anonymize(src, dst, *, settings, **kw):
        seen["settings"] = settings
        raise KeyMaterialError("stop here")  # no Ray runtime in a unit test

    monkeypatch.setattr(scale, "anonymize", fake_anonymize)
    (tmp_path / "b.json").write_text('[{"box": [1, 2, 30, 40]}]')
    code = main(["anonymize", str(astronaut_png.parent), "-o", str(tmp_path / "out"), "--engine", "ray", "--shape", "box",
                 "--mask-scale", "1.5", "--boxes", str(tmp_path / "b.json"), "--draw-boxes", "--scale", "640x480",
                 "--threads", "2"])
    assert code == KeyMaterialError.exit_code
    s = seen["settings"]
    assert s.faces.mask == MaskSpec("box", 1.5) and s.faces.draw_boxes
    assert [f.face.box for f in s.faces.boxes.by_input[None]] == [(1.0, 2.0, 30.0, 40.0)]
    assert s.detector_options["max_side"] == 640 and s.detector_options["intra_op_threads"] == 2
    assert s.runtime.threads == 2 and s.runtime.device == "cpu"  # each worker applies it (worker.setup)


def test_ray_recover_gets_threads_and_device(tmp_path, passphrase, monkeypatch, restore_cv2_threads):
    """recover --engine ray --threads N: the RecoverSettings the workers get carry N, and a worker
    built from them runs with N threads (records say so)."""
    import faceveil.scale as scale
    from faceveil.cli import main
    from faceveil.scale.job import RecoverSettings
    from faceveil.scale.worker import Worker

    seen = {}

    def fake_recover(src, dst, *, settings, **kw):
        seen["settings"] = settings
        raise KeyMaterialError("stop here")

    monkeypatch.setattr(scale, "recover", fake_recover)
    (tmp_path / "in").mkdir()
    code = main(["recover", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--engine", "ray", "--threads", "1",
                 "--from-pixels"])
    assert code == KeyMaterialError.exit_code
    s = seen["settings"]
    assert isinstance(s, RecoverSettings) and s.runtime.threads == 1 and s.from_pixels
    job = Job("recover", Location.parse(tmp_path / "in"), Location.parse(tmp_path / "out"), "run-t", recover=s)
    worker = Worker(job)
    worker.setup()
    import cv2

    assert cv2.getNumThreads() == 1


@pytest.fixture
def restore_cv2_threads():
    """Worker.setup sets process-wide counts (OpenCV, torch with --from-pixels, the codecs): restore them."""
    import cv2
    import torch

    from faceveil.io.video import set_codec_threads

    before = (cv2.getNumThreads(), torch.get_num_threads())
    yield
    cv2.setNumThreads(before[0])
    torch.set_num_threads(before[1])
    set_codec_threads(None)


def test_worker_scratch_of_dead_processes_is_swept_at_start_up(tmp_path):
    """A killed worker runs no cleanup: the next worker's start-up removes its scratch (which may hold a
    fetched original); a live process's scratch and other folders stay."""
    import subprocess
    import sys

    from faceveil.scale.worker import SCRATCH_PREFIX, sweep_stale_scratch

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    dead = tmp_path / f"{SCRATCH_PREFIX}{dead_pid}-abc"
    (dead / "in").mkdir(parents=True)
    (dead / "in" / "original.png").write_bytes(b"face")
    alive = tmp_path / f"{SCRATCH_PREFIX}{os.getpid()}-def"
    alive.mkdir()
    other = tmp_path / "faceveil-other"
    other.mkdir()
    assert sweep_stale_scratch(str(tmp_path)) == 1
    assert not dead.exists() and alive.exists() and other.exists()


def test_storage_options_travel_in_runtime_env_and_credentials_are_refused():
    from faceveil.errors import UsageError
    from faceveil.scale.cli import cluster_options

    p = {"engine": "ray", "storage_option": ["endpoint_url=http://127.0.0.1:9000", "use_ssl=false"]}
    cluster = cluster_options(p)
    env = cluster.runtime_env(("s3", "file"))
    assert env == {"env_vars": {"FSSPEC_S3": json.dumps({"endpoint_url": "http://127.0.0.1:9000", "use_ssl": False})}}
    import fsspec.config

    conf: dict = {}
    fsspec.config.set_conf_env(conf, env["env_vars"])  # what a worker's fsspec reads at import
    assert conf == {"s3": {"endpoint_url": "http://127.0.0.1:9000", "use_ssl": False}}
    assert cluster_options({"engine": "ray"}).runtime_env(("s3",)) is None
    for bad in (["secret=abc"], ["aws_secret_access_key=abc"], ["no-equals"]):
        with pytest.raises(UsageError):
            cluster_options({"engine": "ray", "storage_option": bad})


def test_object_store_extras_are_declared():
    import tomllib

    extras = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(d.startswith("s3fs==") for d in extras["s3"])
    assert any(d.startswith("gcsfs==") for d in extras["gcs"])
    assert any(d.startswith("ray[data]==") for d in extras["ray"])


def test_salt_probe_finds_the_salt_of_a_video_and_of_an_image(tmp_path):
    """recover --engine ray with a passphrase: a worker that lacks a file's derived secret finds the
    file's salt itself (images and videos alike), so the driver can derive it whatever the listing order."""
    from faceveil import api
    from faceveil.scale.job import Item, RecoverSettings
    from faceveil.scale.worker import Worker
    from faceveil.testing import load_sample, write_synthetic_clip

    (tmp_path / "src").mkdir()
    write_synthetic_clip(tmp_path / "src" / "a.mp4", seconds=0.2, noise=2.0)
    from PIL import Image

    Image.fromarray(load_sample("astronaut")[:256, 96:352]).save(tmp_path / "src" / "b.png")
    reports = api.anonymize(tmp_path / "src", tmp_path / "anon", keys=api.KeyOptions(passphrase="pw"), method="solid")
    assert all(r.ok for r in reports)
    job = Job("recover", Location.parse(tmp_path / "anon"), Location.parse(tmp_path / "back"), "run-p",
              recover=RecoverSettings(), passphrase_recovery=True)
    worker = Worker(job)
    worker.setup()
    for name in ("a.mp4", "b.png"):
        outcome = worker.process(Item(name, name))
        assert not outcome.record.ok and outcome.needs_key is not None, name
        salt, params = outcome.needs_key
        p = Argon2Params()
        assert len(salt) == 16 and params == (p.time_cost, p.memory_kib, p.parallelism)


def test_a_worker_error_behind_a_ray_exception_is_the_faceveil_error():
    """A worker whose __init__ raises (e.g. a method option it refuses) dies at creation; Ray keeps only
    the text, and the run stops as that faceveil error (its exit code, one line), not as a Ray traceback."""
    from faceveil.errors import UsageError
    from faceveil.scale.driver import _faceveil_cause

    class ActorDied(Exception):
        pass

    text = ("The actor died because of an error raised in its creation task, ray::MapWorker.__init__() ...\n"
            "faceveil.errors.UsageError: method 'mosaic' takes no option 'x'; it takes: cells, noise")
    found = _faceveil_cause(ActorDied(text))
    assert isinstance(found, UsageError) and str(found).startswith("method 'mosaic' takes no option 'x'")
    chained = RuntimeError("wrapped")
    chained.cause = KeyMaterialError("no key")
    assert isinstance(_faceveil_cause(chained), KeyMaterialError)
    assert _faceveil_cause(RuntimeError("a Ray bug")) is None


@pytest.mark.parametrize("command, flags", [
    ("anonymize", ["--workers", "2"]),
    ("anonymize", ["--storage-option", "endpoint_url=http://localhost:9"]),
    ("recover", ["--address", "auto"]),
    ("recover", ["--gpus-per-worker", "0.5", "--workers", "1"]),
    ("anonymize", ["--batch-size", "4"]),
])
def test_cluster_flags_on_the_local_engine_are_a_usage_error_not_ignored(tmp_path, astronaut_png, passphrase,
                                                                          command, flags, capsys):
    from faceveil.cli import main

    code = main([command, str(astronaut_png), "-o", str(tmp_path / "out.png"), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "only apply with --engine ray" in err[0] and flags[0] in err[0]
    assert not (tmp_path / "out.png").exists()


def test_eval_cluster_flags_on_the_local_engine_are_a_usage_error(tmp_path, capsys):
    from faceveil.cli import main

    code = main(["eval", "--method", "mosaic", "--out", str(tmp_path / "e"), "--workers", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--workers only apply with --engine ray" in err[0]
    assert not (tmp_path / "e").exists()
