"""The Ray engine end to end on a local Ray runtime with 2 CPUs (started once for this module).

Generated inputs: crops, flips and composites of skimage's astronaut and matplotlib's Grace Hopper,
in nested folders, plus one file that is not an image.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")
pytestmark = pytest.mark.slow  # each test starts Ray Data actors: 10-50 s on 2 shared cores

from faceveil import api, scale  # noqa: E402
from faceveil.scale.manifest import Manifest  # noqa: E402
from faceveil.scale.location import Location  # noqa: E402

PASSPHRASE = "correct horse battery staple"
CLUSTER = scale.ClusterOptions(engine="ray", workers=2)
_TEMP = f"/tmp/fv-ray-{os.getpid()}"  # our own Ray temp folder (the machine is shared)


@pytest.fixture(scope="module", autouse=True)
def ray_runtime():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", _temp_dir=_TEMP)
    yield
    ray.shutdown()
    import shutil

    shutil.rmtree(_TEMP, ignore_errors=True)


def _faces(astronaut: np.ndarray, hopper: np.ndarray) -> list[np.ndarray]:
    h = hopper[:400, 100:500]
    a = astronaut[:320, 80:400]
    both = np.zeros((320, 720, 3), np.uint8)
    both[:, :320] = a
    both[:, 320:] = np.asarray(Image.fromarray(h).resize((400, 320)))
    return [a, a[:, ::-1], h, h[:, ::-1], both, astronaut[::2, ::2], np.ascontiguousarray(both[:, ::-1]), astronaut[:300, 100:360]]


def _write_inputs(root: Path, images: list[np.ndarray]) -> list[str]:
    names = []
    for i, img in enumerate(images):
        rel = f"set{i % 2}/part{i % 3}/img{i}.png" if i % 4 else f"img{i}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(img)).save(root / rel)
        names.append(rel)
    return names


@pytest.fixture(scope="module")
def images(astronaut, grace_hopper):
    return _faces(astronaut, grace_hopper)


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def _ok_records(dst) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in Manifest(Location.parse(dst), "reader").records():
        if r.ok:
            counts[r.input] = counts.get(r.input, 0) + 1
    return counts


def test_same_pixels_as_single_process_recoverable_bad_file_alone_and_resume(tmp_path, images):
    src = tmp_path / "src"
    names = _write_inputs(src, images[:6])
    (src / "set1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really")

    local = api.anonymize(src, tmp_path / "local", keys=api.KeyOptions(passphrase=PASSPHRASE), seed=11)
    summary = scale.anonymize(src, tmp_path / "dst", cluster=CLUSTER, passphrase=PASSPHRASE,
                              settings=scale.AnonymizeSettings(seed=11), progress=False)

    assert (summary.listed, summary.ok, summary.failed, summary.workers) == (7, 6, 1, 2)
    assert [r.input for r in summary.failures] == ["set1/broken.png"] and summary.failures[0].exit_code == 3
    assert summary.exit_code == 3
    assert sum(not r.ok for r in local) == 1
    for rel in names:
        out = tmp_path / "dst" / rel
        assert np.array_equal(_pixels(out), _pixels(tmp_path / "local" / rel)), rel  # same seed, same pixels
        assert not np.array_equal(_pixels(out), _pixels(src / rel)), rel  # and faces did change
    records = {r.input: r for r in Manifest(Location.parse(tmp_path / "dst"), "reader").records()}
    assert all(records[rel].faces >= 1 and records[rel].payload_bytes > 0 and records[rel].worker for rel in names)
    import hashlib

    assert records[names[0]].input_sha256 == hashlib.sha256((src / names[0]).read_bytes()).hexdigest()
    assert records[names[0]].output_sha256 == hashlib.sha256((tmp_path / "dst" / names[0]).read_bytes()).hexdigest()

    # recover on the cluster with the passphrase (derived on the driver, sent wrapped): bit-exact
    back = scale.recover(tmp_path / "dst", tmp_path / "back", cluster=CLUSTER, passphrase=PASSPHRASE, progress=False)
    assert (back.ok, back.failed) == (6, 0)
    for rel in names:
        assert np.array_equal(_pixels(tmp_path / "back" / rel), _pixels(src / rel)), rel

    # resume: fix the broken file; only it is processed, the rest is skipped and left untouched
    before = {rel: (tmp_path / "dst" / rel).stat().st_mtime_ns for rel in names}
    Image.fromarray(images[6]).save(src / "set1" / "broken.png")
    again = scale.anonymize(src, tmp_path / "dst", cluster=CLUSTER, passphrase=PASSPHRASE,
                            settings=scale.AnonymizeSettings(seed=11), progress=False)
    assert (again.skipped, again.ok, again.failed) == (6, 1, 0)
    assert {rel: (tmp_path / "dst" / rel).stat().st_mtime_ns for rel in names} == before
    assert _ok_records(tmp_path / "dst") == {rel: 1 for rel in [*names, "set1/broken.png"]}
    finished = scale.anonymize(src, tmp_path / "dst", cluster=CLUSTER, passphrase=PASSPHRASE, progress=False)
    assert (finished.skipped, finished.ok, finished.workers) == (7, 0, 0)  # nothing left: no worker started


@pytest.mark.parametrize("batch_size", [2])  # (batches of 1: the cluster test kills a worker too)
def test_killed_worker_loses_nothing_and_rerun_is_exactly_once(tmp_path, images, batch_size):
    """SIGKILL a worker as its first outcome arrives: Ray restarts the actor and retries whatever batch it
    had in flight, so the same run finishes every item, each with exactly one ok record; a rerun redoes
    nothing."""
    cluster = scale.ClusterOptions(engine="ray", workers=2, batch_size=batch_size)
    src = tmp_path / "src"
    names = _write_inputs(src, images)
    api.keygen(tmp_path / "me.key")
    killed: list[int] = []

    def kill_first_worker(record) -> None:
        if not killed:  # SIGKILL: no cleanup runs, as when a node dies or the OOM killer strikes
            pid = int(record.worker.rsplit(":", 1)[1])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    first = scale.anonymize(src, tmp_path / "dst", cluster=cluster, recipients=[tmp_path / "me.key.pub"],
                            progress=False, on_record=kill_first_worker)
    assert killed and (first.ok, first.failed, first.lost) == (len(names), 0, 0)
    assert killed[0] in {int(w.rsplit(":", 1)[1]) for w in first.worker_names}
    rerun = scale.anonymize(src, tmp_path / "dst", cluster=cluster, recipients=[tmp_path / "me.key.pub"], progress=False)
    assert (rerun.ok, rerun.skipped, rerun.workers) == (0, len(names), 0)  # redone: nothing

    dst = tmp_path / "dst"
    outputs = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file() and ".faceveil" not in p.parts)
    assert outputs == sorted(names)  # every file exactly once, nothing else (no temp or partial files)
    assert _ok_records(dst) == {rel: 1 for rel in names}
    back = scale.recover(dst, tmp_path / "back", cluster=cluster, private_keys=[tmp_path / "me.key"], progress=False)
    assert back.ok == len(names)
    for rel in names:
        assert np.array_equal(_pixels(tmp_path / "back" / rel), _pixels(src / rel)), rel


def test_cli_with_file_urls_and_public_key(tmp_path, images, capsys):
    import json

    from faceveil.cli import main

    src = tmp_path / "src"
    names = _write_inputs(src, images[:3])
    assert main(["keygen", str(tmp_path / "k.key")]) == 0
    capsys.readouterr()
    code = main(["anonymize", f"file://{src}", "-o", f"file://{tmp_path}/out", "--engine", "ray", "--workers", "2",
                 "-r", str(tmp_path / "k.key.pub"), "--batch-size", "2", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["engine"], summary["ok"], summary["failed"]) == ("ray", 3, 0)
    assert summary["batch_size"] == 2 and summary["lost"] == 0  # Ray Data may bundle small blocks into one call
    code = main(["recover", f"file://{tmp_path}/out", "-o", f"file://{tmp_path}/back", "--engine", "ray",
                 "--workers", "1", "-k", str(tmp_path / "k.key")])
    assert code == 0
    for rel in names:
        assert np.array_equal(_pixels(tmp_path / "back" / rel), _pixels(src / rel))
    assert "done now" in capsys.readouterr().err
    code = main(["recover", f"file://{tmp_path}/out", "-o", f"file://{tmp_path}/back-quiet", "--engine", "ray",
                 "--workers", "1", "-k", str(tmp_path / "k.key"), "-q"])
    captured = capsys.readouterr()
    assert code == 0 and captured.out == "" and "done now" not in captured.err  # issue 25: -q, no summary either


def test_learned_method_batches_images_same_bytes_as_single_process_bad_file_alone(tmp_path, images):
    """PRO-Face S (shipped weights) gets up to 8 images per call by default: images go to a worker
    together, each keeps its own record, the broken one fails alone, and every output has the
    bytes of the single-process path (seed; --payload none, so no randomized container)."""
    src = tmp_path / "src"
    names = _write_inputs(src, images[:5])
    (src / "set1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really")
    settings = scale.AnonymizeSettings(method="proface-s", payload="none", seed=4)
    summary = scale.anonymize(src, tmp_path / "dst", cluster=CLUSTER, settings=settings, progress=False)
    local = api.anonymize(src, tmp_path / "local", method="proface-s", output_options=api.OutputOptions(payload="none"), seed=4)

    assert (summary.ok, summary.failed, summary.batch_size) == (5, 1, 8)
    assert [r.input for r in summary.failures] == ["set1/broken.png"] and summary.exit_code == 3
    assert sum(not r.ok for r in local) == 1
    for rel in names:
        assert (tmp_path / "dst" / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes(), rel
    records = {r.input: r for r in Manifest(Location.parse(tmp_path / "dst"), "reader").records()}
    assert len(records) == 6 and all(records[rel].ok and records[rel].faces >= 1 for rel in names)
    assert not records["set1/broken.png"].ok
    calls = [(r.worker, r.seconds) for r in records.values()]  # items of one call share its time
    assert max(calls.count(c) for c in calls) >= 2  # images did go to a worker together


def test_threads_reach_every_worker_process(tmp_path, images):
    """--threads N is applied in each Ray worker's own process (the driver's setting does not carry over):
    every record reports the count its worker ran with, for anonymize and recover."""
    from faceveil.runtime import RuntimeOptions

    src = tmp_path / "src"
    _write_inputs(src, images[:2])
    settings = scale.AnonymizeSettings(runtime=RuntimeOptions(threads=3))
    anon = scale.anonymize(src, tmp_path / "dst", cluster=CLUSTER, passphrase=PASSPHRASE, settings=settings,
                           progress=False)
    back = scale.recover(tmp_path / "dst", tmp_path / "back", cluster=CLUSTER, passphrase=PASSPHRASE, progress=False,
                         settings=scale.RecoverSettings(runtime=RuntimeOptions(threads=5)))
    assert (anon.ok, back.ok) == (2, 2)
    for dst, n in ((tmp_path / "dst", 3), (tmp_path / "back", 5)):
        records = list(Manifest(Location.parse(dst), "reader").records())
        assert len(records) == 2 and {r.threads for r in records} == {n}, dst


def test_wrong_passphrase_fails_each_file_with_the_wrong_key_code(tmp_path, images):
    src = tmp_path / "src"
    _write_inputs(src, images[:2])
    scale.anonymize(src, tmp_path / "dst", cluster=scale.ClusterOptions("ray", workers=1), passphrase=PASSPHRASE,
                    progress=False)
    back = scale.recover(tmp_path / "dst", tmp_path / "back", cluster=scale.ClusterOptions("ray", workers=1),
                         passphrase="not it", progress=False)
    assert (back.ok, back.failed, back.exit_code) == (0, 2, 6)
    assert not list((tmp_path / "back").rglob("*.png"))


def test_eval_items_on_ray_recover_and_repeat_with_a_seed(tmp_path):
    from faceveil.eval.cli import EvalRequest
    from faceveil.scale.eval import method_items

    request = EvalRequest(out=tmp_path / "ev", method="mosaic", seed=5, cluster=CLUSTER)
    skipped: list[str] = []
    first = list(method_items(request, skipped))
    second = list(method_items(request, skipped))
    assert [i.name for i in first] == ["astronaut", "grace_hopper", "cameraman"] and not skipped
    for a, b in zip(first, second):
        assert np.array_equal(a.recovered, a.original)
        assert np.array_equal(a.anonymized, b.anonymized)  # keys from (seed, name): any worker, same result
    assert not np.array_equal(first[0].anonymized, first[0].original)


@pytest.mark.slow
def test_passphrase_recover_restores_videos_whatever_the_order_and_on_reruns(tmp_path, astronaut):
    """The video is listed before the image. With the run's description in SRC the salt is derived
    before the workers start (nothing redone); on a bare copy (no description) and on a rerun whose
    images are already done, the video itself brings its salt in and is redone once it is derived."""
    import shutil

    from faceveil.io.video import iter_frames
    from faceveil.testing import write_synthetic_clip

    src = tmp_path / "src"
    src.mkdir()
    write_synthetic_clip(src / "a.mp4", seconds=0.3, noise=2.0)
    Image.fromarray(astronaut[:256, 96:352]).save(src / "b.png")
    settings = scale.AnonymizeSettings(method="solid", video=api.VideoSettings(lossless=True))
    anon = scale.anonymize(src, tmp_path / "anon", cluster=CLUSTER, passphrase=PASSPHRASE, settings=settings,
                           progress=False)
    assert (anon.ok, anon.failed) == (2, 0)

    def frames(path):
        return [f.rgb for f in iter_frames(path)]

    back = scale.recover(tmp_path / "anon", tmp_path / "back", cluster=CLUSTER, passphrase=PASSPHRASE, progress=False)
    assert (back.ok, back.failed, back.retried) == (2, 0, 0)
    original = frames(src / "a.mp4")
    assert all(np.array_equal(o, r) for o, r in zip(original, frames(tmp_path / "back" / "a.mp4")))

    # a copy without the run description: the image first, alone, then the video added and the run resumed
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in (tmp_path / "anon").glob("b.png*"):  # with its sidecar, if any
        shutil.copy(f, copy / f.name)
    first = scale.recover(copy, tmp_path / "back2", cluster=CLUSTER, passphrase=PASSPHRASE, progress=False)
    assert (first.ok, first.retried) == (1, 1)
    for f in (tmp_path / "anon").glob("a.mp4*"):
        shutil.copy(f, copy / f.name)
    rerun = scale.recover(copy, tmp_path / "back2", cluster=CLUSTER, passphrase=PASSPHRASE, progress=False)
    assert (rerun.skipped, rerun.ok, rerun.failed, rerun.retried) == (1, 1, 0, 1), rerun.failures
    restored = frames(tmp_path / "back2" / "a.mp4")
    assert len(restored) == len(original) and all(np.array_equal(o, r) for o, r in zip(original, restored))
