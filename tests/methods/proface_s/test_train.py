import numpy as np
import pytest
import torch
from PIL import Image

from faceveil.errors import InputError
from faceveil.methods.proface_s.checkpoint import load_proface_s
from faceveil.methods.proface_s.data import EVAL_EXCLUDED, CropSampler, default_images
from faceveil.methods.proface_s.train import TrainConfig, Trainer, main


def _config(tmp_path, **kw):
    base = dict(out_dir=tmp_path / "run", crop_size=32, batch_size=2, steps=4, lr=1e-3, checkpoint_every=2, log_every=1)
    base.update(kw)
    return TrainConfig(**base)


def test_default_data_excludes_the_evaluation_faces():
    images = default_images()
    assert len(images.photos) >= 10 and len(images.faces) == 100
    assert not any(name in src for src in images.sources for name in EVAL_EXCLUDED)
    crops = CropSampler(images, 48, np.random.default_rng(0)).batch(6)
    assert crops.shape == (6, 48, 48, 3) and crops.dtype == np.uint8
    assert len({c.tobytes() for c in crops}) == 6


@pytest.mark.slow  # >= 10 s on 2 shared cores (--durations)
def test_steps_on_a_fixed_batch_reduce_the_loss(tmp_path):
    torch.manual_seed(0)
    trainer = Trainer(_config(tmp_path, batch_size=2, crop_size=32, lr=2e-3, grad_clip=10.0))
    fixed = trainer.batch()
    trainer.batch = lambda: fixed  # overfit one batch: the loss must fall
    losses = [trainer.step().total.item() for _ in range(12)]
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])


def test_checkpoint_and_resume(tmp_path, capsys):
    cfg = _config(tmp_path, steps=2)
    first = Trainer(cfg)
    first.run()
    assert (cfg.out_dir / "last.pt").exists() and (cfg.out_dir / "train_log.jsonl").exists()
    resumed = Trainer(_config(tmp_path, steps=3))
    assert resumed.step_index == 2
    for a, b in zip(first.net.parameters(), resumed.net.parameters()):
        assert torch.equal(a, b)
    resumed.run()
    assert resumed.step_index == 3
    assert "done: train proface-s: 3/3 steps (100 %)" in capsys.readouterr().err  # progress with X/N on stderr
    shipped = load_proface_s(cfg.out_dir / "weights.pt")  # fp16 shipping format loads back
    for a, b in zip(resumed.net.parameters(), shipped.parameters()):
        assert torch.allclose(a, b, atol=1e-2)
    # new runs train with the official recovery stand-in and record it in both files
    assert shipped.recovery_standin == resumed.net.recovery_standin == "official"
    assert torch.load(cfg.out_dir / "last.pt", weights_only=True)["recovery_standin"] == "official"


def test_folder_data_and_cli(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "cli"), "--data", str(folder), "--crop-size", "16", "--batch-size", "1",
              "--steps", "1", "--mode", "obfs", "--obfuscation", "pixelate"])
    assert exc.value.code == 0
    assert (tmp_path / "cli" / "weights.pt").exists()


@pytest.mark.parametrize(
    "bad", [dict(mode="noise"), dict(obfuscation="faceswap"), dict(crop_size=15), dict(lr=0), dict(lr_schedule="step"), dict(spike_factor=0.5), dict(ema_decay=1.0),
     dict(obfuscation="blur,swirl"), dict(obfuscation="hybrid,blur"), dict(obfuscation=",")]
)
def test_bad_config_is_a_clear_error(tmp_path, bad):
    with pytest.raises(InputError):
        _config(tmp_path, **bad).validate()


def test_missing_data_folder(tmp_path):
    with pytest.raises(InputError, match="not found"):
        Trainer(_config(tmp_path, data=tmp_path / "nope"))


def test_a_diverging_batch_is_skipped(tmp_path):
    trainer = Trainer(_config(tmp_path))
    original, obfuscated, key, wrong = trainer.batch()
    trainer.batch = lambda: (original * float("nan"), obfuscated, key, wrong)
    before = [p.clone() for p in trainer.net.parameters()]
    trainer.step()
    assert trainer.skipped_steps == 1 and trainer.step_index == 1
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.net.parameters()))


@pytest.mark.slow  # >= 10 s on 2 shared cores (--durations)
def test_a_loss_spike_is_skipped_and_the_guard_cannot_stall(tmp_path):
    trainer = Trainer(_config(tmp_path, spike_factor=4.0))
    fixed = trainer.batch()
    trainer.batch = lambda: fixed
    trainer.step()
    assert trainer.skipped_steps == 0 and set(trainer.loss_ema) == {trainer.batch_kind}
    trainer.loss_ema[trainer.batch_kind] /= 100  # the next (ordinary) loss now looks like a 100x spike
    before = [p.clone() for p in trainer.net.parameters()]
    trainer.step()
    assert trainer.skipped_steps == 1
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.net.parameters()))
    for _ in range(20):
        trainer.step()  # 20 skips in a row reset the running mean: training goes on
    assert trainer.skipped_steps == 20 and trainer.consecutive_skips == 0


def test_the_spike_guard_compares_a_batch_with_its_own_obfuscation_kind(tmp_path):
    # hybrid batches differ ~10x in loss by kind (mask >> blur); a hard kind is not a spike
    trainer = Trainer(_config(tmp_path, obfuscation="hybrid", spike_factor=4.0))
    trainer.loss_ema = {"blur": 1e-6}
    trainer.batch_kind = "mask"
    assert trainer._accept(torch.tensor(0.5))
    trainer.batch_kind = "blur"
    assert not trainer._accept(torch.tensor(0.5))


def test_a_list_of_obfuscations_draws_one_kind_per_batch(tmp_path):
    trainer = Trainer(_config(tmp_path, obfuscation="blur, pixelate"))
    kinds = set()
    for _ in range(12):
        original, obfuscated, _, _ = trainer.batch()
        kinds.add(trainer.batch_kind)
    assert kinds == {"blur", "pixelate"}


@pytest.mark.slow  # >= 10 s on 2 shared cores (--durations)
def test_weight_average_is_shipped_and_resumed(tmp_path):
    cfg = _config(tmp_path, steps=3, ema_decay=0.9, lr=1e-2)
    trainer = Trainer(cfg)
    start = [p.clone() for p in trainer.net.parameters()]
    trainer.run()
    live, avg = list(trainer.net.parameters()), list(trainer.ema_net.parameters())
    moved = [(a - s).abs().sum() for a, s in zip(avg, start)]
    assert sum(moved) > 0  # the average follows training...
    assert any(not torch.equal(a, b) for a, b in zip(live, avg))  # ...but is not the live weights
    shipped = load_proface_s(cfg.out_dir / "weights.pt")
    for a, b in zip(avg, shipped.parameters()):
        assert torch.allclose(a, b, atol=1e-2)
    resumed = Trainer(_config(tmp_path, steps=4, ema_decay=0.9, lr=1e-2))
    assert resumed.ema_updates == trainer.ema_updates
    for a, b in zip(avg, resumed.ema_net.parameters()):
        assert torch.equal(a, b)


def test_distributed_data_parallel_path(tmp_path, monkeypatch):
    # a one-process torchrun-style environment exercises the DDP wrapper, gloo backend, rank-0 writes
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for name, value in dict(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", WORLD_SIZE="1", LOCAL_RANK="0").items():
        monkeypatch.setenv(name, value)
    try:
        trainer = Trainer(_config(tmp_path, steps=2, crop_size=16, batch_size=1))
        assert isinstance(trainer.graph, torch.nn.parallel.DistributedDataParallel)
        path = trainer.run()
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    assert path is not None and path.exists()
    assert trainer.step_index == 2


def test_visibility_penalty_flag_reaches_the_loss(tmp_path):
    with pytest.raises(InputError):
        _config(tmp_path, visibility_weight=-1.0).validate()
    torch.manual_seed(0)
    terms = Trainer(_config(tmp_path, visibility_weight=0.5, steps=1)).step()
    assert terms.vis is not None and torch.isfinite(terms.total)


def test_fine_tune_can_keep_the_init_weights_recovery_standin(tmp_path):
    from faceveil.methods.proface_s import SHIPPED_WEIGHTS  # noqa: PLC0415

    with pytest.raises(InputError, match="stand-in"):
        Trainer(_config(tmp_path, recovery_standin="init"))  # "init" needs --init-weights
    kept = Trainer(_config(tmp_path / "a", init_weights=SHIPPED_WEIGHTS, recovery_standin="init", ema_decay=0.9, steps=1))
    assert kept.net.recovery_standin == kept.ema_net.recovery_standin == "faceveil-v1"
    kept.run()
    assert load_proface_s(kept.out_dir / "weights.pt").recovery_standin == "faceveil-v1"
    assert Trainer(_config(tmp_path / "b", init_weights=SHIPPED_WEIGHTS)).net.recovery_standin == "official"


def test_module_entry_point_reports_a_bad_option_in_one_line(tmp_path, capsys):
    """`python -m faceveil.methods.proface_s.train` (the model card's command) answers like the CLI."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "run"), "--recovery-standin", "init", "--steps", "1"])
    assert exit_info.value.code == InputError.exit_code
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["faceveil train proface-s: recovery stand-in must be 'official' or 'init' (with --init-weights), got 'init'"]
