"""The TF.js graph interpreter on tiny hand-built graphs with hand-computed results."""

import base64
import json

import numpy as np
import pytest
import torch

from faceveil.analysis.tfjs_graph import TfjsGraphModel, _same_padding, load_weights
from faceveil.errors import ModelUnavailableError


def _s(text: str) -> dict:
    return {"s": base64.b64encode(text.encode()).decode()}


def _write_model(tmp_path, nodes, weights: list[tuple[dict, bytes]]):
    manifest = [{"paths": ["w.bin"], "weights": [spec for spec, _ in weights]}]
    (tmp_path / "w.bin").write_bytes(b"".join(data for _, data in weights))
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"format": "graph-model", "modelTopology": {"node": nodes}, "weightsManifest": manifest}))
    return path


def _const(name):
    return {"name": name, "op": "Const"}


def test_dequantization(tmp_path):
    q = np.array([0, 1, 255], dtype=np.uint8)
    h = np.array([1.5, -2.25], dtype=np.float16)
    i = np.array([7, -3], dtype=np.int32)
    path = _write_model(
        tmp_path,
        [],
        [
            ({"name": "q", "shape": [3], "dtype": "float32", "quantization": {"dtype": "uint8", "min": -1.0, "scale": 0.5}}, q.tobytes()),
            ({"name": "h", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}}, h.tobytes()),
            ({"name": "i", "shape": [2], "dtype": "int32"}, i.tobytes()),
        ],
    )
    w = load_weights(json.loads(path.read_text()), tmp_path)
    np.testing.assert_allclose(w["q"], [-1.0, -0.5, 126.5])  # q * scale + min
    np.testing.assert_array_equal(w["h"], [1.5, -2.25])
    assert w["h"].dtype == np.float32
    np.testing.assert_array_equal(w["i"], [7, -3])


def test_truncated_weights_raise(tmp_path):
    path = _write_model(tmp_path, [], [({"name": "a", "shape": [4], "dtype": "float32"}, b"\0" * 8)])
    with pytest.raises(ModelUnavailableError, match="truncated"):
        load_weights(json.loads(path.read_text()), tmp_path)


def test_same_padding_matches_tensorflow_rule():
    # size 5, kernel 3, stride 2: out 3, needs (3-1)*2+3-5 = 2 -> (1, 1); size 6 -> total 1 -> (0, 1)
    assert _same_padding(5, 3, 2, 1) == (1, 1)
    assert _same_padding(6, 3, 2, 1) == (0, 1)
    assert _same_padding(4, 1, 1, 1) == (0, 0)


def test_conv_same_stride2_bias_relu(tmp_path):
    """_FusedConv2D(SAME, stride 2) + BiasAdd + Relu on a 4x4 ramp, checked against a hand loop."""
    kernel = np.array([[1.0, 0.0], [0.0, -1.0]], dtype=np.float32).reshape(2, 2, 1, 1)  # HWIO
    bias = np.array([0.5], dtype=np.float32)
    nodes = [
        {"name": "x", "op": "Placeholder"},
        _const("k"),
        _const("b"),
        {
            "name": "y",
            "op": "_FusedConv2D",
            "input": ["x", "k", "b"],
            "attr": {
                "padding": _s("SAME"),
                "strides": {"list": {"i": ["1", "2", "2", "1"]}},
                "fused_ops": {"list": {"s": [_s("BiasAdd")["s"], _s("Relu")["s"]]}},
            },
        },
    ]
    path = _write_model(
        tmp_path,
        nodes,
        [({"name": "k", "shape": [2, 2, 1, 1], "dtype": "float32"}, kernel.tobytes()), ({"name": "b", "shape": [1], "dtype": "float32"}, bias.tobytes())],
    )
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1) * np.array([1, -1] * 8, dtype=np.float32).reshape(1, 4, 4, 1)
    out = TfjsGraphModel(path, ["y"])(torch.from_numpy(x))["y"].numpy()
    # SAME with size 4, k 2, s 2 needs no padding: out[i, j] = x[2i, 2j] - x[2i+1, 2j+1] + 0.5, then relu
    img = x[0, :, :, 0]
    expected = np.maximum(np.array([[img[2 * i, 2 * j] - img[2 * i + 1, 2 * j + 1] + 0.5 for j in range(2)] for i in range(2)]), 0)
    np.testing.assert_allclose(out[0, :, :, 0], expected)


def test_depthwise_channel_order_and_mean(tmp_path):
    """Depthwise 1x1 with multiplier 2 on 2 channels -> 4 channels ordered c*mult+m, then Mean over H, W."""
    kernel = np.array([2.0, 3.0, -1.0, 10.0], dtype=np.float32).reshape(1, 1, 2, 2)  # (kh, kw, in, mult)
    axes = np.array([1, 2], dtype=np.int32)
    nodes = [
        {"name": "x", "op": "Placeholder"},
        _const("k"),
        _const("axes"),
        {"name": "d", "op": "DepthwiseConv2dNative", "input": ["x", "k"], "attr": {"padding": _s("VALID"), "strides": {"list": {"i": ["1", "1", "1", "1"]}}}},
        {"name": "m", "op": "Mean", "input": ["d", "axes"], "attr": {"keep_dims": {"b": False}}},
    ]
    path = _write_model(
        tmp_path,
        nodes,
        [({"name": "k", "shape": [1, 1, 2, 2], "dtype": "float32"}, kernel.tobytes()), ({"name": "axes", "shape": [2], "dtype": "int32"}, axes.tobytes())],
    )
    x = np.zeros((1, 2, 2, 2), dtype=np.float32)
    x[..., 0] = [[1, 2], [3, 6]]  # mean 3
    x[..., 1] = [[4, 4], [0, 0]]  # mean 2
    out = TfjsGraphModel(path, ["m"])(torch.from_numpy(x))["m"].numpy()
    np.testing.assert_allclose(out, [[3 * 2, 3 * 3, 2 * -1, 2 * 10]])


def test_unsupported_op_is_reported(tmp_path):
    path = _write_model(tmp_path, [{"name": "x", "op": "Placeholder"}, {"name": "y", "op": "FancyOp", "input": ["x"]}], [])
    with pytest.raises(ModelUnavailableError, match="FancyOp"):
        TfjsGraphModel(path, ["y"])


def test_maxpool_same_never_pools_padding_and_pad_then_prelu(tmp_path):
    """Pad -> MaxPool(2x2, stride 2, SAME) -> _FusedConv2D(1x1, BiasAdd + Prelu) on negative inputs:
    zero padding from Pad is real data, SAME padding of the pool is not."""
    paddings = np.array([[0, 0], [1, 0], [0, 0], [0, 0]], dtype=np.int32)  # one zero row on top
    kernel = np.ones((1, 1, 1, 1), dtype=np.float32)
    bias = np.array([-1.0], dtype=np.float32)
    alpha = np.array([0.5], dtype=np.float32)
    nodes = [
        {"name": "x", "op": "Placeholder"},
        _const("p"), _const("k"), _const("b"), _const("a"),
        {"name": "padded", "op": "Pad", "input": ["x", "p"]},
        {"name": "pool", "op": "MaxPool", "input": ["padded"], "attr": {"padding": _s("SAME"), "ksize": {"list": {"i": ["1", "2", "2", "1"]}}, "strides": {"list": {"i": ["1", "2", "2", "1"]}}}},
        {"name": "y", "op": "_FusedConv2D", "input": ["pool", "k", "b", "a"], "attr": {"padding": _s("VALID"), "strides": {"list": {"i": ["1", "1", "1", "1"]}},
         "fused_ops": {"list": {"s": [_s("BiasAdd")["s"], _s("Prelu")["s"]]}}}},
    ]  # fmt: skip
    path = _write_model(
        tmp_path,
        nodes,
        [
            ({"name": "p", "shape": [4, 2], "dtype": "int32"}, paddings.tobytes()),
            ({"name": "k", "shape": [1, 1, 1, 1], "dtype": "float32"}, kernel.tobytes()),
            ({"name": "b", "shape": [1], "dtype": "float32"}, bias.tobytes()),
            ({"name": "a", "shape": [1], "dtype": "float32"}, alpha.tobytes()),
        ],
    )
    x = -np.arange(1, 7, dtype=np.float32).reshape(1, 2, 3, 1)  # [[-1,-2,-3],[-4,-5,-6]]
    out = TfjsGraphModel(path, ["y"])(torch.from_numpy(x))["y"].numpy()[0, :, :, 0]
    # padded (3x3): [[0,0,0],[-1,-2,-3],[-4,-5,-6]]; SAME pool 2x2/2 on 3x3 pads one row/col after (ignored):
    # max windows: [[0, 0], [-4, -6]]; then +bias -1 -> [[-1,-1],[-5,-7]]; PReLU 0.5 -> [[-0.5,-0.5],[-2.5,-3.5]]
    np.testing.assert_allclose(out, [[-0.5, -0.5], [-2.5, -3.5]])
