"""G2Face against the official code (Harxis/G2Face): G2Face.pth, ArcFace backbone.pth and
Deep3DFaceRecon epoch_20.pth written in the authors' formats into $FACEVEIL_WEIGHTS and loaded the way
``faceveil anonymize --method g2face`` loads them (``published_engine``)."""

import pytest
import torch

from faceveil.methods.g2face.bitcodec import bits_to_float, float_to_bits
from faceveil.methods.g2face.payload import make_payload_codec

from .golden import arrays, assert_matches, inp, max_abs_diff, noise, write_g2face_files

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("g2face_weights")
    write_g2face_files(directory)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FACEVEIL_WEIGHTS", str(directory))
        yield directory
    for f in directory.iterdir():  # ~600 MB: pytest keeps old temporary directories around
        f.unlink()


@pytest.fixture(scope="module")
def engine(weights_dir):
    """What `faceveil anonymize --method g2face` builds from $FACEVEIL_WEIGHTS."""
    from faceveil.methods.g2face.method import published_engine

    return published_engine(device="cpu")


def test_style_mlp_adds_its_bias_as_the_checkpoint_was_trained(engine):
    with torch.no_grad():
        wplus = engine.networks.style_mlp(inp("g2face_style_mlp", "latent_id"), inp("g2face_style_mlp", "latent_shape"))
    assert_matches("g2face_style_mlp", "wplus", wplus)


def test_map_2_id(engine):
    with torch.no_grad():
        assert_matches("g2face_map_2_id", "identity", engine.networks.map_2_id(inp("g2face_map_2_id", "z")))


def test_hiding_extractor(engine):
    with torch.no_grad():
        logits = engine.networks.extractor(inp("g2face_hiding_extractor", "image"))
    assert logits.shape == (1, 512 * 32)  # the official (1, 512, 32) flattened row-major
    assert_matches("g2face_hiding_extractor", "logits", logits.reshape(1, 512, 32))


def test_anonymous_net_with_explicit_noise(engine):
    case = "g2face_anonymous_net"
    with torch.no_grad():
        out = engine.networks.generator(inp(case, "image"), inp(case, "wplus"), inp(case, "bits").reshape(1, -1), noise=noise(case))
    assert_matches(case, "image", out)


def test_arcface_at_112_px(engine):
    with torch.no_grad():
        assert_matches("arcface_112", "embedding", engine.identity(inp("arcface_112", "image")))


def test_deep3d_at_224_px(engine):
    with torch.no_grad():
        assert_matches("deep3d_224", "coefficients", engine.geometry.net(inp("deep3d_224", "image")))


@pytest.fixture(scope="module")
def test_path(engine):
    """Every intermediate of the anonymize path of G2Face's test.py, computed once."""
    case = "g2face_test_path"
    image = inp(case, "image")
    with torch.no_grad():
        identity = engine.identity_of(image)
        coefficients = engine.geometry.coefficients(image)
        geometry = engine.geometry(image)
        hidden_bits = make_payload_codec("paper", engine.n_bits, engine.identity_dim).encode(identity[0], None)[None]
        dummy_identity = engine.networks.map_2_id(inp(case, "z"))
        wplus = engine.networks.style_mlp(dummy_identity, geometry)
        # step 7 with the official bits: ours may differ in the lowest mantissa bits (see below)
        bits = torch.from_numpy(arrays()[f"{case}/out/hidden_bits"].reshape(1, -1).copy())
        anonymized = engine.synthesize(image, dummy_identity, bits, noise(case))
    return dict(identity=identity, coefficients=coefficients, geometry=geometry, hidden_bits=hidden_bits,
                dummy_identity=dummy_identity, wplus=wplus, anonymized=anonymized)


@pytest.mark.parametrize("what", ["identity", "coefficients", "geometry", "dummy_identity", "wplus", "anonymized"])
def test_the_official_anonymize_path(test_path, what):
    assert_matches("g2face_test_path", what, test_path[what])


def test_the_saved_anonymized_image_is_clipped(test_path):
    assert_matches("g2face_test_path", "anonymized_clipped", test_path["anonymized"].clamp(-1, 1))


def test_hidden_bits_are_the_official_float2bit_of_the_identity(test_path):
    case = "g2face_test_path"
    reference = torch.from_numpy(arrays()[f"{case}/out/hidden_bits"].copy())
    # the codec is exact: the official identity gives the official bits
    official_identity = torch.from_numpy(arrays()[f"{case}/out/identity"].copy())
    assert torch.equal(float_to_bits(official_identity).reshape(1, 512, 32), reference)
    # ours: bit-exact when our identity is; otherwise the bits still encode the identity within its tolerance
    ours = test_path["hidden_bits"].reshape(1, 512, 32)
    if max_abs_diff(case, "identity", test_path["identity"]) == 0:
        assert torch.equal(ours, reference)
    assert_matches(case, "identity", bits_to_float(ours.reshape(1, -1), guard=False))


def test_the_same_file_given_as_weights_is_read_the_same_way(weights_dir):
    """`-O weights=G2Face.pth` rebuilds the networks from the file's own layout (trained.py)."""
    from faceveil.methods.g2face.trained import checkpoint_engine

    engine, source = checkpoint_engine(weights_dir / "G2Face.pth", "published", torch.device("cpu"))
    assert source.layout.size == 256 and source.layout.channel_scale == 1.0
    with torch.no_grad():
        wplus = engine.networks.style_mlp(inp("g2face_style_mlp", "latent_id"), inp("g2face_style_mlp", "latent_shape"))
        embedding = engine.identity(inp("arcface_112", "image"))
    assert_matches("g2face_style_mlp", "wplus", wplus)
    assert_matches("arcface_112", "embedding", embedding)
