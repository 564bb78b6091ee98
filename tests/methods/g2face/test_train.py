"""Training: a tiny configuration learns (losses fall), checkpoints resume and load as G2Face.pth."""

import pytest
import torch

from faceveil.analysis.arcface import IResNet
from faceveil.errors import InputError
from faceveil.methods.g2face.checkpoint import G2FaceNetworks
from faceveil.methods.g2face.config import TrainConfig
from faceveil.methods.g2face.data import batches, sample_faces
from faceveil.methods.g2face.priors import ArcFaceIdentity
from faceveil.methods.g2face.train import G2FaceTrainer, Priors, lr_factor

from .small import TinyGeometry

torch.set_num_threads(1)

TINY = TrainConfig(size=32, channel_scale=1 / 16, extractor_width=16, extractor_blocks=1, batch_size=4, steps=20, warmup_steps=1)


def tiny_trainer(seed: int = 0) -> G2FaceTrainer:
    torch.manual_seed(seed)
    priors = Priors(ArcFaceIdentity(IResNet((1, 1, 1, 1), width=8)), TinyGeometry(), 512, 147)
    return G2FaceTrainer(TINY, priors)


@pytest.mark.slow  # >= 10 s on 2 shared cores (--durations)
def test_tiny_training_reduces_reconstruction_losses():
    trainer = tiny_trainer()
    stream = batches(sample_faces(TINY.size), TINY.batch_size, seed=0)
    logs = [trainer.step(next(stream)) for _ in range(TINY.steps)]

    def mean(key, part):
        return sum(l[key] for l in part) / len(part)

    for key, factor in (("anon/l1", 0.9), ("recover/l1", 0.8), ("recover/perceptual", 0.9), ("recover/id", 0.9)):
        assert mean(key, logs[-4:]) < factor * mean(key, logs[:4]), key
    assert all(torch.isfinite(torch.tensor(list(l.values()))).all() for l in logs)
    assert "d/r1" in logs[0]  # lazy R1 on step 0 (and every 16th)


def test_checkpoint_resumes_and_loads_as_g2face_networks(tmp_path):
    trainer = tiny_trainer()
    stream = batches(sample_faces(TINY.size), TINY.batch_size, seed=0)
    trainer.step(next(stream))
    trainer.save(tmp_path / "ck.pth")
    other = tiny_trainer(seed=1)
    other.resume(tmp_path / "ck.pth")
    assert other.step_count == 1
    for a, b in zip(trainer.nets.generator.parameters(), other.nets.generator.parameters()):
        assert torch.equal(a, b)
    assert other.optimizer.state_dict()["state"].keys() == trainer.optimizer.state_dict()["state"].keys()
    state = torch.load(tmp_path / "ck.pth", weights_only=True)
    nets = G2FaceNetworks(other.nets.generator, other.nets.style_mlp, other.nets.map_2_id, other.nets.extractor)
    nets.load_state(state)  # the four published entry names
    # trained (and recorded) with the official double bias of style_mlp; older runs without the record used one
    assert state["style_mlp_bias"] == "twice" and nets.style_mlp.bias_convention == "twice"
    del state["style_mlp_bias"]
    assert nets.load_state(state).style_mlp.bias_convention == "once"


def test_resume_rejects_a_non_training_file(tmp_path):
    torch.save({"anonymous_net": {}}, tmp_path / "bad.pth")
    with pytest.raises(InputError):
        tiny_trainer().resume(tmp_path / "bad.pth")


def test_learning_rate_warms_up_then_decays():
    cfg = TrainConfig(warmup_steps=10, decay_every=100, decay_gamma=0.5)
    assert lr_factor(0, cfg) == pytest.approx(0.1) and lr_factor(9, cfg) == 1.0
    assert lr_factor(109, cfg) == 1.0 and lr_factor(110, cfg) == 0.5


def test_invalid_training_config_is_an_input_error():
    with pytest.raises(InputError):
        TrainConfig(amp="fp8")
    with pytest.raises(InputError):
        TrainConfig(batch_size=1)


def test_bfm_basis_switches_on_published_shape_landmark_shading_terms(tmp_path):
    from faceveil.methods.g2face.morphable import MorphableModel

    from .small import TinyCoefficientRegressor
    from .test_morphable import synthetic_basis_mat

    synthetic_basis_mat(tmp_path / "bfm.mat")
    torch.manual_seed(0)
    priors = Priors(ArcFaceIdentity(IResNet((1, 1, 1, 1), width=8)), TinyCoefficientRegressor(), 512, 147,
                    MorphableModel.from_mat(tmp_path / "bfm.mat"))
    trainer = G2FaceTrainer(TINY, priors)
    logs = trainer.step(next(batches(sample_faces(TINY.size), TINY.batch_size, seed=0)))
    for key in ("anon/shape", "anon/landmark", "anon/color", "recover/landmark"):
        assert key in logs and logs[key] >= 0.0


def test_bfm_basis_needs_a_coefficient_regressor(tmp_path):
    from faceveil.methods.g2face.morphable import MorphableModel

    from .test_morphable import synthetic_basis_mat

    synthetic_basis_mat(tmp_path / "bfm.mat")
    with pytest.raises(InputError):
        Priors(ArcFaceIdentity(IResNet((1, 1, 1, 1), width=8)), TinyGeometry(), 512, 147, MorphableModel.from_mat(tmp_path / "bfm.mat"))
