"""Run TensorFlow.js *graph models* (``model.json`` + ``*.bin`` shards) in PyTorch.

TF.js graph models are a frozen TensorFlow GraphDef in JSON plus binary weight shards. We read the
weights with numpy (dequantizing uint8 / uint16 / float16 storage), keep them as torch buffers and
interpret the graph node by node. Activations stay in TensorFlow's NHWC layout between nodes (so
Reshape/Mean/Pad keep TF semantics); convolutions permute to NCHW around the torch call. Everything
is plain torch, so models are differentiable (usable as identity losses) and run on any device.

Only the ops of the graphs faceveil runs are implemented (MobileNet-style CNNs: convolutions with TF
padding, fused bias/ReLU/PReLU, max pooling, elementwise math, Mean/Reshape/Pad/MatMul); an unknown
op raises :class:`~faceveil.errors.ModelUnavailableError` naming it.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faceveil.errors import ModelUnavailableError

_NUMPY_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANT_DTYPES = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}


@dataclass(frozen=True)
class GraphNode:
    name: str
    op: str
    inputs: tuple[str, ...]  # producer node names (":k" output suffixes and "^" control inputs stripped)
    attr: dict


def load_weights(model_json: dict, model_dir: Path) -> dict[str, np.ndarray]:
    """Decode every weight of a TF.js ``weightsManifest`` into numpy arrays (float32 / int32 / bool).

    Quantized storage: uint8/uint16 -> ``q * scale + min``; float16 -> float32.
    """
    weights: dict[str, np.ndarray] = {}
    for group in model_json["weightsManifest"]:
        try:
            blob = b"".join((model_dir / p).read_bytes() for p in group["paths"])
        except OSError as exc:
            raise ModelUnavailableError(f"TF.js weight shard missing in {model_dir}: {exc}") from exc
        offset = 0
        for spec in group["weights"]:
            shape = tuple(int(s) for s in spec["shape"])
            count = math.prod(shape)
            quant = spec.get("quantization")
            stored = _QUANT_DTYPES[quant["dtype"]] if quant else _NUMPY_DTYPES[spec["dtype"]]
            nbytes = count * np.dtype(stored).itemsize
            if offset + nbytes > len(blob):
                raise ModelUnavailableError(f"TF.js weights in {model_dir} are truncated at {spec['name']!r}")
            raw = np.frombuffer(blob, dtype=stored, count=count, offset=offset).reshape(shape)
            offset += nbytes
            if quant and quant["dtype"] in ("uint8", "uint16"):
                value = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
            else:
                value = raw.astype(_NUMPY_DTYPES[spec["dtype"]], copy=True)
            weights[spec["name"]] = value
    return weights


def _strip(input_name: str) -> str:
    name = input_name.lstrip("^")
    return name.split(":")[0]


def parse_nodes(model_json: dict) -> list[GraphNode]:
    return [
        GraphNode(n["name"], n["op"], tuple(_strip(i) for i in n.get("input", []) if not i.startswith("^")), n.get("attr", {}))
        for n in model_json["modelTopology"]["node"]
    ]


# --- attribute helpers (TF.js JSON stores protobuf AttrValues; strings are base64) ---------------------


def _attr_str(node: GraphNode, key: str, default: str = "") -> str:
    value = node.attr.get(key)
    return base64.b64decode(value["s"]).decode() if value and "s" in value else default


def _attr_ints(node: GraphNode, key: str) -> list[int]:
    value = node.attr.get(key, {})
    return [int(i) for i in value.get("list", {}).get("i", [])]


def _attr_strs(node: GraphNode, key: str) -> list[str]:
    value = node.attr.get(key, {})
    return [base64.b64decode(s).decode() for s in value.get("list", {}).get("s", [])]


def _attr_bool(node: GraphNode, key: str) -> bool:
    return bool(node.attr.get(key, {}).get("b", False))


# --- convolution / pooling in TF semantics --------------------------------------------------------------


def _same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TF 'SAME' padding (before, after) along one axis; TF puts the odd pixel after."""
    effective = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _pad_nchw(x: torch.Tensor, node: GraphNode, kh: int, kw: int, stride: tuple[int, int], dil: tuple[int, int], value: float = 0.0) -> torch.Tensor:
    padding = _attr_str(node, "padding", "VALID")
    if padding == "SAME":
        top, bottom = _same_padding(x.shape[2], kh, stride[0], dil[0])
        left, right = _same_padding(x.shape[3], kw, stride[1], dil[1])
    elif padding == "EXPLICIT":
        p = _attr_ints(node, "explicit_paddings")  # NHWC pairs: [0,0, top,bottom, left,right, 0,0]
        top, bottom, left, right = p[2], p[3], p[4], p[5]
    else:
        return x
    if top or bottom or left or right:
        x = F.pad(x, (left, right, top, bottom), value=value)
    return x


def _check_nhwc(node: GraphNode) -> None:
    fmt = _attr_str(node, "data_format", "NHWC")
    if fmt != "NHWC":
        raise ModelUnavailableError(f"TF.js node {node.name!r}: data_format {fmt} not supported")


def _conv2d(node: GraphNode, x: torch.Tensor, kernel_hwio: torch.Tensor, depthwise: bool) -> torch.Tensor:
    """x (N, H, W, C) NHWC; kernel (kh, kw, in, out) or depthwise (kh, kw, in, multiplier) -> NHWC."""
    _check_nhwc(node)
    strides = _attr_ints(node, "strides") or [1, 1, 1, 1]
    dilations = _attr_ints(node, "dilations") or [1, 1, 1, 1]
    stride, dil = (strides[1], strides[2]), (dilations[1], dilations[2])
    kh, kw, cin, cout = kernel_hwio.shape
    xc = _pad_nchw(x.permute(0, 3, 1, 2), node, kh, kw, stride, dil)
    if depthwise:
        weight = kernel_hwio.permute(2, 3, 0, 1).reshape(cin * cout, 1, kh, kw)  # out channel = c * mult + m
        y = F.conv2d(xc, weight, stride=stride, dilation=dil, groups=cin)
    else:
        y = F.conv2d(xc, kernel_hwio.permute(3, 2, 0, 1), stride=stride, dilation=dil)
    return y.permute(0, 2, 3, 1)


def _max_pool(node: GraphNode, x: torch.Tensor) -> torch.Tensor:
    _check_nhwc(node)
    ksize, strides = _attr_ints(node, "ksize"), _attr_ints(node, "strides")
    kh, kw, stride = ksize[1], ksize[2], (strides[1], strides[2])
    xc = _pad_nchw(x.permute(0, 3, 1, 2), node, kh, kw, stride, (1, 1), value=-math.inf)  # TF never pools padding
    return F.max_pool2d(xc, (kh, kw), stride).permute(0, 2, 3, 1)


def _apply_fused(node: GraphNode, y: torch.Tensor, extra: list[torch.Tensor]) -> torch.Tensor:
    """Grappler-fused epilogue: fused_ops ["BiasAdd"], ["BiasAdd", "Relu"] or ["BiasAdd", "Prelu"],
    with args [bias, (prelu alpha)]."""
    args = iter(extra)
    for op in _attr_strs(node, "fused_ops"):
        if op == "BiasAdd":
            y = y + next(args)
        elif op == "Relu":
            y = torch.relu(y)
        elif op == "Prelu":
            alpha = next(args)
            y = torch.where(y >= 0, y, y * alpha)
        else:
            raise ModelUnavailableError(f"TF.js node {node.name!r}: fused op {op!r} not supported")
    return y


def _axes(value: torch.Tensor, rank: int) -> list[int]:
    return [int(a) % rank for a in value.reshape(-1).tolist()]


Op = Callable[[GraphNode, list[torch.Tensor]], torch.Tensor]


def _reduce(fn) -> Op:
    def run(node: GraphNode, a: list[torch.Tensor]) -> torch.Tensor:
        axes = _axes(a[1], a[0].dim())
        return fn(a[0], dim=axes, keepdim=_attr_bool(node, "keep_dims"))

    return run


def _matmul(node: GraphNode, a: list[torch.Tensor]) -> torch.Tensor:
    x, w = a[0], a[1]
    if _attr_bool(node, "transpose_a"):
        x = x.transpose(-1, -2)
    if _attr_bool(node, "transpose_b"):
        w = w.transpose(-1, -2)
    return x @ w


def _pad(node: GraphNode, a: list[torch.Tensor]) -> torch.Tensor:
    pairs = a[1].reshape(-1, 2).tolist()  # per axis (before, after), TF order
    flat = [int(v) for pair in reversed(pairs) for v in pair]  # torch wants last axis first
    return F.pad(a[0], flat)


# Exactly the ops of the graphs faceveil runs (FaceRes, MobileFace, BlazeFace, FaceMesh).
OPS: dict[str, Op] = {
    "Identity": lambda n, a: a[0],
    "Add": lambda n, a: a[0] + a[1],
    "AddV2": lambda n, a: a[0] + a[1],
    "Sub": lambda n, a: a[0] - a[1],
    "Mul": lambda n, a: a[0] * a[1],
    "Maximum": lambda n, a: torch.maximum(a[0], a[1]),
    "Minimum": lambda n, a: torch.minimum(a[0], a[1]),
    "Relu": lambda n, a: torch.relu(a[0]),
    "Sigmoid": lambda n, a: torch.sigmoid(a[0]),
    "Prelu": lambda n, a: torch.where(a[0] >= 0, a[0], a[0] * a[1]),
    "Softmax": lambda n, a: torch.softmax(a[0], dim=-1),
    "Mean": _reduce(torch.mean),
    "Reshape": lambda n, a: a[0].reshape([int(v) for v in a[1].tolist()]),
    "Pad": _pad,
    "MatMul": _matmul,
    "_FusedMatMul": lambda n, a: _apply_fused(n, _matmul(n, a[:2]), a[2:]),
    "Conv2D": lambda n, a: _conv2d(n, a[0], a[1], depthwise=False),
    "DepthwiseConv2dNative": lambda n, a: _conv2d(n, a[0], a[1], depthwise=True),
    "_FusedConv2D": lambda n, a: _apply_fused(n, _conv2d(n, a[0], a[1], depthwise=False), a[2:]),
    "MaxPool": lambda n, a: _max_pool(n, a[0]),
}


class TfjsGraphModel(nn.Module):
    """A TF.js graph model as a torch module.

    forward(x): x (N, H, W, C) float32 NHWC, as the TF.js model expects -> dict output name -> tensor.
    """

    def __init__(self, model_json_path: Path, outputs: list[str]) -> None:
        super().__init__()
        path = Path(model_json_path)
        try:
            model_json = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(f"cannot read TF.js model {path}: {exc}") from exc
        self.nodes = parse_nodes(model_json)
        by_name = {n.name: n for n in self.nodes}
        unknown = sorted({n.op for n in self.nodes if n.op not in OPS and n.op not in ("Const", "Placeholder")})
        if unknown:
            raise ModelUnavailableError(f"TF.js model {path.name} uses unsupported ops: {', '.join(unknown)}")
        missing = [o for o in outputs if o not in by_name]
        if missing:
            raise ModelUnavailableError(f"TF.js model {path.name} has no node(s) {missing}")
        self.input_name = next(n.name for n in self.nodes if n.op == "Placeholder")
        self.outputs = list(outputs)
        self._order = self._schedule(by_name)
        self._buffer_names: dict[str, str] = {}
        for name, value in load_weights(model_json, path.parent).items():
            buffer_name = f"w{len(self._buffer_names)}"  # node names contain '/' which torch forbids
            self._buffer_names[name] = buffer_name
            self.register_buffer(buffer_name, torch.from_numpy(value), persistent=False)

    def _schedule(self, by_name: dict[str, GraphNode]) -> list[GraphNode]:
        """Nodes needed for the requested outputs, in dependency order (iterative DFS: graphs are deep)."""
        order: list[GraphNode] = []
        state: dict[str, int] = {}  # 1 = visiting, 2 = done
        for out in self.outputs:
            stack = [(out, False)]
            while stack:
                name, expanded = stack.pop()
                if state.get(name) == 2:
                    continue
                if expanded:
                    state[name] = 2
                    order.append(by_name[name])
                    continue
                state[name] = 1
                stack.append((name, True))
                for dep in by_name[name].inputs:
                    if state.get(dep) is None:
                        stack.append((dep, False))
        return order

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        values: dict[str, torch.Tensor] = {}
        for node in self._order:
            if node.op == "Placeholder":
                values[node.name] = x
            elif node.op == "Const":
                values[node.name] = getattr(self, self._buffer_names[node.name])
            else:
                values[node.name] = OPS[node.op](node, [values[i] for i in node.inputs])
        return {name: values[name] for name in self.outputs}
