"""The Ray engine against real Ray processes, as a user runs it.

* a head started with ``ray start --head --block`` on its own port and temp folder, with token
  authentication, stopped by its own process group (never a command that stops every Ray on the
  machine); the CLI joins it with ``--address`` from a separate driver process that has the token but
  not ``RAY_AUTH_MODE`` (faceveil passes the token mode through);
* an S3 round trip against a local S3 server (moto, from PyPI) with ``--storage-option endpoint_url=``;
* a worker killed mid-run (``--json`` stays JSON), a driver killed mid-run (the rerun redoes exactly
  the items without an ok record);
* the local runtime started by faceveil itself: no Ray process holds the passphrase.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ray.data")

from faceveil import scale  # noqa: E402
from faceveil.scale.location import Location  # noqa: E402
from faceveil.scale.manifest import Manifest  # noqa: E402

pytestmark = pytest.mark.slow
PASSPHRASE = "correct horse battery staple"
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process we can read."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        out[int(entry.name)] = (ppid, cmd)
    return out


def _descendants(root: int) -> dict[int, str]:
    procs = _processes()
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, cmd) in procs.items():
            if ppid == parent and pid not in found:
                found[pid] = cmd
                frontier.append(pid)
    return found


@pytest.fixture(scope="module")
def head():
    temp = Path(f"/tmp/fvc-{os.getpid()}")  # short: Ray's socket paths must fit in 107 bytes
    port = _free_port()
    token = secrets.token_hex(16)
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token, OMP_NUM_THREADS="1",
               # node-level storage credentials, as on a real cluster (never through runtime_env)
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    log = open(temp.with_suffix(".log"), "wb")
    proc = subprocess.Popen([RAY, "start", "--head", "--port", str(port), "--num-cpus", "2", "--temp-dir", str(temp),
                             "--include-dashboard", "false", "--disable-usage-stats", "--block"],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while b"will now block" not in temp.with_suffix(".log").read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("ray start --head did not come up:\n" + temp.with_suffix(".log").read_text()[-2000:])
            time.sleep(0.5)
        yield {"address": f"127.0.0.1:{port}", "token": token, "pid": proc.pid}
    finally:
        _stop_group(proc)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)
        temp.with_suffix(".log").unlink(missing_ok=True)


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop the head we started: its own process group (SIGTERM, then SIGKILL what is left), plus any
    descendant that left the group; nothing else on the machine."""
    pids = set(_descendants(proc.pid)) | {proc.pid}
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def _driver_env(head, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return env | {"RAY_AUTH_TOKEN": head["token"], "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])} | extra


def _cli(args: list[str], env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "faceveil.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def _images(astronaut, grace_hopper, n: int) -> list[np.ndarray]:
    base = [astronaut[:320, 80:400], grace_hopper[:400, 100:500], astronaut[::2, ::2]]
    out = []
    for i in range(n):
        img = base[i % 3]
        out.append(np.ascontiguousarray(img[:, ::-1] if (i // 3) % 2 else img))
    return out


def _write(root: Path, images) -> list[str]:
    names = []
    for i, img in enumerate(images):
        rel = f"d{i % 2}/img{i:02d}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(root / rel)
        names.append(rel)
    return names


def _ok_counts(dst) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in Manifest(Location.parse(dst), "reader").records():
        if r.ok:
            counts[r.input] = counts.get(r.input, 0) + 1
    return counts


def _outputs(dst: Path) -> list[str]:
    return sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file() and ".faceveil" not in p.parts)


def test_s3_round_trip_on_a_token_cluster(head, tmp_path, astronaut, grace_hopper):
    pytest.importorskip("moto.server")  # the dev extra
    s3fs = pytest.importorskip("s3fs")  # the s3 extra
    from moto.server import ThreadedMotoServer

    from faceveil import api

    s3_port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{s3_port}"
        fs = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint)
        fs.mkdir("faceveil-test")
        images = _images(astronaut, grace_hopper, 3)
        names = _write(tmp_path / "src", images)
        for rel in names:
            fs.put_file(str(tmp_path / "src" / rel), f"faceveil-test/src/{rel}")
        api.keygen(tmp_path / "k.key")
        env = _driver_env(head, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                          AWS_DEFAULT_REGION="us-east-1")
        cluster = ["--engine", "ray", "--address", head["address"], "--workers", "2",
                   "--storage-option", f"endpoint_url={endpoint}"]
        r = _cli(["anonymize", "s3://faceveil-test/src", "-o", "s3://faceveil-test/anon", *cluster,
                  "-r", str(tmp_path / "k.key.pub"), "--json"], env)
        assert r.returncode == 0, r.stderr[-3000:]
        summary = json.loads(r.stdout)
        assert (summary["ok"], summary["failed"], summary["lost"]) == (3, 0, 0)
        assert sorted(p.split("faceveil-test/anon/", 1)[1] for p in fs.find("faceveil-test/anon")
                      if "/.faceveil/" not in p) == sorted(names)
        r = _cli(["recover", "s3://faceveil-test/anon", "-o", str(tmp_path / "back"), *cluster,
                  "-k", str(tmp_path / "k.key"), "--json"], env)
        assert r.returncode == 0, r.stderr[-3000:]
        assert json.loads(r.stdout)["ok"] == 3
        for rel, img in zip(names, images):
            assert np.array_equal(np.asarray(Image.open(tmp_path / "back" / rel)), img), rel
        workers = {int(rec.worker.rsplit(":", 1)[1]) for rec in Manifest(Location.parse(tmp_path / "back"), "r").records()}
        import re
        import tempfile

        left = [p.name for p in Path(tempfile.gettempdir()).glob("faceveil-worker-*")
                if (m := re.match(r"faceveil-worker-(\d+)-", p.name)) and int(m.group(1)) in workers]
        assert not left  # fetched originals do not outlive their item
    finally:
        server.stop()


def test_killed_worker_keeps_json_clean_and_killed_driver_resumes_exactly(head, tmp_path, astronaut, grace_hopper):
    from faceveil import api

    names = _write(tmp_path / "src", _images(astronaut, grace_hopper, 12))
    api.keygen(tmp_path / "k.key")
    env = _driver_env(head)
    args = ["--engine", "ray", "--address", head["address"], "--workers", "2", "-r", str(tmp_path / "k.key.pub"), "--json"]

    # 1. SIGKILL a worker as soon as the first output appears: Ray restarts it and retries its batch;
    # stdout is still one JSON document (Ray's "A worker died" lines go to stderr)
    killed: list[int] = []

    def kill_a_worker() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not killed:
            if (tmp_path / "one").is_dir() and _outputs(tmp_path / "one"):
                for pid, cmd in _descendants(head["pid"]).items():
                    if cmd.startswith("ray::MapWorker(MapBatches(BatchWorker))"):
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                        return
            time.sleep(0.2)

    killer = threading.Thread(target=kill_a_worker)
    killer.start()
    r = _cli(["anonymize", str(tmp_path / "src"), "-o", str(tmp_path / "one"), *args], env)
    killer.join()
    assert r.returncode == 0, r.stderr[-3000:]
    assert killed
    summary = json.loads(r.stdout)  # the whole of stdout
    assert (summary["ok"], summary["failed"], summary["lost"]) == (12, 0, 0)
    assert _ok_counts(tmp_path / "one") == {rel: 1 for rel in names}
    assert _outputs(tmp_path / "one") == sorted(names)

    # 2. SIGKILL the driver once records are on disk; the rerun redoes exactly the others. More inputs
    # than part 1: the manifest is flushed every second, and 12 small images can all finish within one
    total = 36
    names = _write(tmp_path / "src2", _images(astronaut, grace_hopper, total))
    driver = subprocess.Popen([sys.executable, "-m", "faceveil.cli", "anonymize", str(tmp_path / "src2"), "-o",
                               str(tmp_path / "two"), *args], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240

    def recorded_ok() -> int:
        return sum(_ok_counts(tmp_path / "two").values()) if (tmp_path / "two" / ".faceveil").is_dir() else 0

    while recorded_ok() < 1:
        assert driver.poll() is None and time.monotonic() < deadline, "the driver finished before it could be killed"
        time.sleep(0.1)
    driver.kill()
    driver.wait()
    recorded = _ok_counts(tmp_path / "two")
    assert 1 <= len(recorded) < total
    time.sleep(2)  # the job's workers go with their driver
    r = _cli(["anonymize", str(tmp_path / "src2"), "-o", str(tmp_path / "two"), *args], env)
    assert r.returncode == 0, r.stderr[-3000:]
    rerun = json.loads(r.stdout)
    assert (rerun["skipped"], rerun["ok"], rerun["lost"]) == (len(recorded), total - len(recorded), 0)
    assert _ok_counts(tmp_path / "two") == {rel: 1 for rel in names}  # no input with two ok records
    assert _outputs(tmp_path / "two") == sorted(names)  # no temp or partial file left
    report = api.recover(tmp_path / "two" / names[-1], tmp_path / "back.png", private_keys=[tmp_path / "k.key"])[0]
    assert report.ok and np.array_equal(np.asarray(Image.open(tmp_path / "back.png")),
                                        np.asarray(Image.open(tmp_path / "src2" / names[-1])))


def test_no_secret_in_any_ray_process_of_a_local_runtime(tmp_path, astronaut, monkeypatch):
    """FACEVEIL_PASSPHRASE set (the README's way) and the passphrase given: the local runtime that
    faceveil starts (gcs_server, raylet, dashboard agent, workers, the key broker) has it neither in its
    environment nor on its command line."""
    monkeypatch.setenv("FACEVEIL_PASSPHRASE", PASSPHRASE)
    (tmp_path / "src").mkdir()
    Image.fromarray(astronaut[:320, 80:400]).save(tmp_path / "src" / "a.png")
    seen: dict[int, tuple[str, bool]] = {}

    def inspect(record) -> None:
        for pid, cmd in _descendants(os.getpid()).items():
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:
                continue
            seen[pid] = (cmd[:300], PASSPHRASE.encode() in environ or PASSPHRASE in cmd)

    summary = scale.anonymize(tmp_path / "src", tmp_path / "dst", cluster=scale.ClusterOptions("ray", workers=1),
                              passphrase=PASSPHRASE, progress=False, on_record=inspect)
    assert summary.ok == 1
    kinds = " ".join(cmd for cmd, _ in seen.values())
    assert "gcs_server" in kinds and "raylet" in kinds and "MapWorker" in kinds and "KeyBroker" in kinds, kinds
    assert not [cmd for cmd, leaked in seen.values() if leaked]
    assert os.environ.get("FACEVEIL_PASSPHRASE") is None  # stripped from the driver before Ray started
