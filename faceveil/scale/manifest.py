"""The run manifest: one JSON line per processed file, kept beside the outputs in ``DST/.faceveil/``.

Layout::

    DST/.faceveil/runs/<run>.json                 what each run was asked to do (no secrets)
    DST/.faceveil/manifest/part-<run>-<seq>.jsonl one line per finished item, written as whole files

Only the driver writes it: it flushes a new part for every block of outcomes the workers send back
(scale.driver); each part is written atomically (temp + rename locally, one PUT on an object store),
so appending never needs an append-capable filesystem and a crash never leaves half a line: a killed
driver loses at most the outcomes it had not yet been handed, whose outputs are then simply redone
(and atomically replaced) by the next run.

The later record of an input wins: a file that failed in run 1 and succeeded in run 2 is done.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field

from faceveil.io.atomic import atomic_write_bytes
from faceveil.scale.location import Location

STATE_DIR = ".faceveil"
OK, FAILED = "ok", "failed"


@dataclass
class Record:
    """What happened to one input. ``input``/``output`` are relative to SRC/DST."""

    input: str
    status: str  # "ok" or "failed"
    output: str | None = None
    input_sha256: str | None = None  # content hash of the input bytes
    output_sha256: str | None = None
    faces: int = 0
    payload_bytes: int = 0
    error: str | None = None
    exit_code: int = 0
    worker: str | None = None  # node / process of the actor that did it
    threads: int = 0  # the CPU threads that worker's process ran with (OpenCV's count, set by --threads)
    seconds: float = 0.0
    finished: float = 0.0  # unix time the worker finished the item (its call); gaps show the engine's overhead
    run: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> Record:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


class Manifest:
    """Reads the state of earlier runs and appends this run's records to ``DST/.faceveil``."""

    def __init__(self, dst: Location, run: str, *, flush_records: int = 2000, flush_seconds: float = 5.0):
        self.dst = dst
        self.run = run
        self.flush_records = flush_records
        self.flush_seconds = flush_seconds
        self._buffer: list[Record] = []
        self._last_flush = time.monotonic()
        self._seq = 0
        self.unreadable_lines = 0

    # --- reading ------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.dst.exists(f"{STATE_DIR}/manifest") or self.dst.exists(f"{STATE_DIR}/runs")

    def _part_names(self) -> list[str]:
        folder = self.dst.path(f"{STATE_DIR}/manifest")
        if self.dst.is_local:
            from pathlib import Path

            p = Path(folder)
            return sorted(f.name for f in p.iterdir() if f.suffix == ".jsonl") if p.is_dir() else []
        fs = self.dst.fs
        if not fs.exists(folder):
            return []
        return sorted(name.rsplit("/", 1)[-1] for name in fs.ls(folder, detail=False) if name.endswith(".jsonl"))

    def records(self) -> Iterator[Record]:
        """Every record of every earlier run, in write order (parts sort by run start, then sequence)."""
        for name in self._part_names():
            text = self.dst.read_bytes(f"{STATE_DIR}/manifest/{name}").decode("utf-8", "replace")
            for line in text.splitlines():
                try:
                    yield Record.from_dict(json.loads(line))
                except (ValueError, TypeError):
                    self.unreadable_lines += 1

    def load_done(self) -> dict[str, str]:
        """input -> output of every input whose latest record is ok (the resume state)."""
        latest: dict[str, str | None] = {}
        for r in self.records():
            latest[r.input] = r.output if r.ok else None
        return {k: v for k, v in latest.items() if v is not None}

    # --- writing ------------------------------------------------------------------------------

    def start(self, description: dict) -> None:
        """Mark DST as this engine's (resume may then replace outputs that lack an ok record)."""
        self._write(f"{STATE_DIR}/runs/{self.run}.json", json.dumps(description, indent=2, sort_keys=True).encode())

    def add(self, record: Record) -> None:
        record.run = self.run
        self._buffer.append(record)
        if len(self._buffer) >= self.flush_records or time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def extend(self, records: Iterable[Record]) -> None:
        for r in records:
            self.add(r)

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        data = "".join(r.to_json() + "\n" for r in self._buffer).encode()
        self._write(f"{STATE_DIR}/manifest/part-{self.run}-{self._seq:06d}.jsonl", data)
        self._seq += 1
        self._buffer.clear()

    def _write(self, rel: str, data: bytes) -> None:
        path = self.dst.path(rel)
        if self.dst.is_local:
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data, overwrite=True)
        else:
            self.dst.fs.pipe_file(path, data)


def new_run_id() -> str:
    """Sortable by start time, unique across drivers: parts of later runs sort after earlier ones."""
    import secrets

    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)
