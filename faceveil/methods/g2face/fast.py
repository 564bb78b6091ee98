"""Fast G2Face generator inference (issue 16): the same network, modulation applied to activations.

The reference ``ModulatedConv2d`` (StyleGAN2's fused form) builds per-sample weights and folds the batch
into the channels of one grouped convolution. Mathematically the same and cheaper to run is StyleGAN2's
other form: scale the input channels by the style, convolve with the shared weight, scale the output
channels by the demodulation factor. It is a plain batched convolution (no grouped conv, no per-sample
weight tensors), and, unlike the fused form, exports to ONNX with a dynamic batch, so the generator can
run under onnxruntime.

The reference path is untouched: :func:`fast_generator` returns a patched *copy* of the generator (the
parameters are shared, not copied) whose modulated convolutions use :func:`modulated_conv_activations`.
Outputs equal the reference to float rounding (tests/methods/g2face/test_fast.py).
"""

from __future__ import annotations

import copy
import io
import threading
import types
import warnings
import weakref

import torch
import torch.nn.functional as F
from torch import nn

from faceveil.methods.g2face.stylegan2.ops import ModulatedConv2d, ToRGB, _pads


def modulated_conv_activations(conv: ModulatedConv2d, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """``conv(x, style)`` computed as modulate-input / shared conv / demodulate-output."""
    b, c = x.shape[:2]
    s = conv.modulation(style)  # (B, in)
    weight = (conv.scale * conv.weight[0]).to(x.dtype)  # (out, in, k, k)
    x = x * s.view(b, c, 1, 1).to(x.dtype)
    if conv.upsample:
        out = F.conv_transpose2d(x, weight.transpose(0, 1), padding=0, stride=2)
    else:
        out = F.conv2d(x, weight, padding=conv.padding)
    if conv.demodulate:
        # sum over (in, k, k) of (scale * W[o] * s[b])^2 = (s^2) @ (sum_k (scale * W)^2)^T
        demod = torch.rsqrt((s * s) @ weight.pow(2).sum(dim=(2, 3)).t() + 1e-8)
        out = out * demod.view(b, -1, 1, 1).to(out.dtype)
    return conv.blur(out) if conv.upsample else out


def _static_fir(fir: nn.Module, channels: int, up: int):
    """``fir.forward`` (Blur / Upsample: upfirdn2d) with its depthwise kernel built once for a known
    channel count: the same arithmetic, but a kernel of static shape, which the ONNX exporter needs."""
    kh, kw = fir.kernel.shape
    weight = torch.flip(fir.kernel, (0, 1)).view(1, 1, kh, kw).repeat(channels, 1, 1, 1)
    x0, x1, y0, y1 = _pads(fir.pad)

    def forward(x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        out = x
        if up > 1:
            out = F.pad(out.reshape(b, c, h, 1, w, 1), (0, up - 1, 0, 0, 0, up - 1)).reshape(b, c, h * up, w * up)
        out = F.pad(out, (max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)))
        out = out[:, :, max(-y0, 0) : out.shape[2] - max(-y1, 0), max(-x0, 0) : out.shape[3] - max(-x1, 0)]
        return F.conv2d(out, weight.to(out.dtype), groups=channels)

    return forward


def fast_generator(generator: nn.Module) -> nn.Module:
    """A copy of ``generator`` sharing its parameters, with every ModulatedConv2d in activation form."""
    memo = {id(p): p for p in generator.parameters()} | {id(b): b for b in generator.buffers()}
    clone = copy.deepcopy(generator, memo)  # parameters/buffers shared through the memo
    for module in clone.modules():
        if isinstance(module, ModulatedConv2d):
            module.forward = types.MethodType(modulated_conv_activations, module)
            if module.upsample:
                module.blur.forward = _static_fir(module.blur, module.out_channels, 1)
        elif isinstance(module, ToRGB) and hasattr(module, "upsample"):
            module.upsample.forward = _static_fir(module.upsample, 3, module.upsample.factor)
    return clone.eval()


class _Wrapper(nn.Module):
    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, image, styles, bits, *noise):
        return self.generator(image, styles, bits, noise=list(noise))


_SESSIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def onnx_session(generator: nn.Module, example: tuple, threads: int | None = None):
    """An onnxruntime session for the activation-form generator (dynamic batch), or None if the export
    or onnxruntime is unavailable. ``example``: (image, styles, bits, *noise) tensors, batch any."""
    with _LOCK:
        if generator in _SESSIONS:
            return _SESSIONS[generator]
        try:
            import onnxruntime

            names = ["image", "styles", "bits"] + [f"noise{i}" for i in range(len(example) - 3)]
            buffer = io.BytesIO()
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(_Wrapper(fast_generator(generator)).eval(), example, buffer, input_names=names,
                                  output_names=["out"], dynamic_axes={n: {0: "B"} for n in [*names, "out"]},
                                  opset_version=17, dynamo=False)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads if threads is not None else torch.get_num_threads()
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            session = (onnxruntime.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"]), names)
        except Exception:  # noqa: BLE001 - any exporter/runtime problem: callers use torch
            session = None
        _SESSIONS[generator] = session
        return session


def run_onnx(session, image, styles, bits, noise) -> torch.Tensor:
    ort_session, names = session
    feed = {n: t.contiguous().numpy() for n, t in zip(names, (image, styles, bits, *noise))}
    return torch.from_numpy(ort_session.run(None, feed)[0])
