"""Loading and saving PRO-Face S weights.

Accepted files (all via ``torch.load(weights_only=True)``):
- a bare state dict with the released names (``model.inv_blocks.N.{r,y,f,p}.convK.{weight,bias}``),
  optionally prefixed ``module.`` (saved from DataParallel / DistributedDataParallel);
- ``{"state_dict": ..., "meta": {...}}``: faceveil's shipped format (fp16 allowed);
- a faceveil training checkpoint (``{"model_state": ..., "optimizer_state": ..., "step": ...}``).

Recovery stand-in (model.recovery_standin): the convention the weights were trained with. A file
that records it (``meta["recovery_standin"]``, or top-level in a training checkpoint) is honoured;
a faceveil file that does not (written before the field existed, like the shipped proface_s.pt) was
trained with "faceveil-v1"; anything else (the authors' bare state dict) uses the official one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from faceveil.errors import InputError, ModelUnavailableError
from faceveil.methods.proface_s.model import RECOVERY_STANDINS, STANDIN_FACEVEIL_V1, STANDIN_OFFICIAL, ProFaceS

_WRAPPER_KEYS = ("state_dict", "model_state", "net", "model")
_DDP_PREFIX = "module."


def extract_state_dict(obj: object) -> dict[str, torch.Tensor]:
    """Find the network's tensors in a loaded checkpoint object and strip a ``module.`` prefix."""
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state = obj
    elif isinstance(obj, dict):
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            raise InputError("not a PRO-Face S checkpoint: no state dict found")
        return extract_state_dict(inner)
    else:
        raise InputError(f"not a PRO-Face S checkpoint: top-level object is {type(obj).__name__}")
    return {(k[len(_DDP_PREFIX) :] if k.startswith(_DDP_PREFIX) else k): v for k, v in state.items()}


def load_state_into(model: ProFaceS, state: dict[str, torch.Tensor]) -> None:
    """Strict load, converting dtypes (fp16 files) to the model's; mismatches become InputError."""
    target = model.state_dict()
    missing = sorted(set(target) - set(state))
    unexpected = sorted(set(state) - set(target))
    wrong_shape = [k for k in target if k in state and state[k].shape != target[k].shape]
    if missing or unexpected or wrong_shape:
        raise InputError(
            "checkpoint does not match the PRO-Face S network "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {wrong_shape[:3]})"
        )
    model.load_state_dict({k: v.to(target[k].dtype) for k, v in state.items()}, strict=True)


def read_checkpoint(path: Path) -> object:
    path = Path(path)
    if not path.is_file():
        raise ModelUnavailableError(f"PRO-Face S weights not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt / foreign files
        raise InputError(f"cannot read PRO-Face S weights {path}: {exc}") from exc


def trained_obfuscations(path: Path) -> tuple[str, ...] | None:
    """The pre-obfuscations a faceveil weight file was (last) trained on, from its recorded training
    config (``hybrid`` = all four); None when the file does not say (e.g. the authors' release)."""
    obj = read_checkpoint(path)
    if not isinstance(obj, dict):
        return None
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    config = meta.get("config") if isinstance(meta.get("config"), dict) else obj.get("config")
    spec = config.get("obfuscation") if isinstance(config, dict) else None
    if not isinstance(spec, str):
        return None
    kinds = tuple(k.strip() for k in spec.split(",") if k.strip())
    from faceveil.methods.proface_s.obfuscations import HYBRID_KINDS

    return HYBRID_KINDS if kinds == ("hybrid",) else kinds


def recovery_standin_of(obj: object) -> str:
    """The recovery stand-in convention of a loaded weight file (module docstring)."""
    if not isinstance(obj, dict):
        return STANDIN_OFFICIAL
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    recorded = meta.get("recovery_standin", obj.get("recovery_standin"))
    if recorded is not None:
        if recorded not in RECOVERY_STANDINS:
            raise InputError(f"PRO-Face S weights record an unknown recovery stand-in {recorded!r}; one of {RECOVERY_STANDINS}")
        return recorded
    faceveil_written = ("state_dict" in obj and "meta" in obj) or "model_state" in obj
    return STANDIN_FACEVEIL_V1 if faceveil_written else STANDIN_OFFICIAL


def load_proface_s(path: Path, device: str | torch.device = "cpu") -> ProFaceS:
    """A ready-to-run (eval mode, float32) network from any accepted weight file."""
    obj = read_checkpoint(path)
    model = ProFaceS(recovery_standin=recovery_standin_of(obj))
    load_state_into(model, extract_state_dict(obj))
    return model.to(device).eval()


def save_weights(model: torch.nn.Module, path: Path, meta: dict | None = None, half: bool = True) -> None:
    """Ship-able weights: ``{"state_dict", "meta"}``, fp16 by default (halves the file; the
    network is evaluated in fp32 after loading). The meta records the recovery stand-in."""
    module = model.module if hasattr(model, "module") else model
    meta = {**(meta or {}), "recovery_standin": getattr(module, "recovery_standin", STANDIN_OFFICIAL)}
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone() for k, v in module.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "meta": meta}, path)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
