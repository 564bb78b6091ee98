"""PRO-Face S against the official code (lixionga/ProFace, "FacePrivacy/PRO-Face S"): the released
checkpoint file format, loaded by ``create_method("proface-s", weights=..., key_mode="compat")``."""

import numpy as np
import pytest
import torch

from faceveil.faces.types import Face
from faceveil.methods.base import FaceContext, create_method
from faceveil.methods.proface_s import keys
from faceveil.methods.proface_s.dwt import haar_dwt

from .golden import arrays, assert_matches, cases, inp, write_proface_s_checkpoint

OFFICIAL_NAME = "hybridAll_inv3_recTypeRandom_secretAsNoise_TripMargin1.2_ep12_iter15000.pth"
KEY_CASES = ("proface_key_hello", "proface_key_chbs", "proface_key_passwoerd", "proface_key_int0")


def _password(case: str):
    value = cases()[case]["password"]
    return value["int"] if isinstance(value, dict) else value


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("proface_weights")
    write_proface_s_checkpoint(directory / OFFICIAL_NAME)
    return directory


@pytest.fixture(scope="module")
def method(weights_dir):
    """The released checkpoint under its own file name, in compat mode with the case's password."""
    return create_method("proface-s", weights=str(weights_dir / OFFICIAL_NAME), key_mode="compat",
                         password="correct horse battery staple")


@pytest.fixture(scope="module")
def protected(method):
    with torch.no_grad():
        return method.net.protect(inp("proface_protect", "original"), inp("proface_protect", "obfuscated"),
                                  inp("proface_protect", "key"))


@pytest.mark.parametrize("case", KEY_CASES)
def test_compat_key_is_the_official_generate_key(case):
    ours = keys.key_tensor(keys.compat_key_bits(_password(case), 256, 256))
    assert_matches(case, "key", ours)


def test_the_method_uses_the_official_key_for_its_password(method):
    ctx = FaceContext(face=Face(box=(0, 0, 256, 256)), index=0, seed=0)
    ours = keys.key_tensor(method.key_map((256, 256, 3), ctx))
    assert_matches("proface_key_chbs", "key", ours)
    assert np.array_equal(arrays()["proface_protect/in/key"], arrays()["proface_key_chbs/out/key"])


def test_protect_matches_the_official_forward(protected):
    assert_matches("proface_protect", "protected", protected)


def test_recovery_uses_the_official_stand_in_for_the_discarded_half(method):
    from faceveil.methods.proface_s.model import recovery_standin

    key = inp("proface_recover", "key")
    z_prime = recovery_standin(key, method.net.recovery_standin)
    assert_matches("proface_recover", "z_prime", z_prime)
    assert torch.equal(z_prime, haar_dwt(key).repeat(1, 3, 1, 1))  # [LL, HL, LH, HH] x 3


def test_recover_matches_the_official_reverse_pass(method):
    with torch.no_grad():
        recovered = method.net.recover(inp("proface_recover", "protected"), inp("proface_recover", "key"))
    assert_matches("proface_recover", "recovered", recovered)


def test_the_registered_official_weights_accept_the_authors_file_name(weights_dir, monkeypatch):
    monkeypatch.setenv("FACEVEIL_WEIGHTS", str(weights_dir))
    method = create_method("proface-s", weights="proface-s-official", key_mode="compat", password="x")
    assert method.net.recovery_standin == "official"
