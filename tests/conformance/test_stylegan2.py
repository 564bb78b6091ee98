"""StyleGAN2 (rosinality/stylegan2-pytorch, 256 px, channel multiplier 2) as G2Face training starts from
it: a checkpoint written like rosinality's train.py writes ``550000.pt`` (with the pickled
``argparse.Namespace`` of its arguments), read by ``init_from_rosinality`` (``--stylegan``)."""

import pickle

import pytest
import torch

from faceveil.errors import InputError
from faceveil.methods.g2face.checkpoint import init_from_rosinality, read_checkpoint, read_stylegan2_checkpoint
from faceveil.methods.g2face.discriminator import Discriminator
from faceveil.methods.g2face.generator import G2FaceGenerator

from .golden import assert_matches, inp, noise, write_rosinality_checkpoint

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("stylegan2") / "550000.pt"
    write_rosinality_checkpoint(path)
    yield path
    path.unlink()  # ~240 MB: pytest keeps old temporary directories around


@pytest.fixture(scope="module")
def networks(checkpoint):
    generator, discriminator = G2FaceGenerator(), Discriminator()
    report = init_from_rosinality(checkpoint, generator, discriminator)
    assert report.unused and all(k.startswith("style.") for k in report.unused)  # the mapping network
    return generator.eval(), discriminator.eval()


def test_synthesis_of_the_initialised_generator(networks):
    with torch.no_grad():
        image = networks[0].stylegan2_synthesis(inp("sg2_synthesis", "wplus"), noise("sg2_synthesis"))
    assert_matches("sg2_synthesis", "image", image)


def test_discriminator(networks):
    with torch.no_grad():
        assert_matches("sg2_discriminator", "scores", networks[1](inp("sg2_discriminator", "images")))


def test_training_checkpoint_args_are_read_without_unpickling_anything_else(checkpoint, tmp_path):
    state = read_stylegan2_checkpoint(checkpoint)
    assert state["args"].size == 256 and state["args"].channel_multiplier == 2
    with pytest.raises(InputError, match="cannot read"):  # plain weights_only refuses the Namespace
        read_checkpoint(checkpoint)
    # anything beyond argparse.Namespace is still refused
    hostile = tmp_path / "hostile.pt"
    torch.save({"g_ema": {}, "args": pickle.PicklingError("not allowed")}, hostile)
    with pytest.raises(InputError, match="cannot read"):
        read_stylegan2_checkpoint(hostile)
