"""The shape of a G2Face network set, read from a checkpoint (published G2Face.pth or one written by
``faceveil train g2face``), so a trained checkpoint of any size / width / prior dimensions can be
rebuilt and loaded strictly without the user restating how it was trained."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

from faceveil.errors import InputError
from faceveil.methods.g2face.checkpoint import G2FACE_ENTRIES, G2FaceNetworks, strip_module_prefix, style_split
from faceveil.methods.g2face.config import IDENTITY_DIM, N_GEOMETRY_COEFFS, ExtractorConfig, GeneratorConfig, MapperConfig
from faceveil.methods.g2face.generator import G2FaceGenerator
from faceveil.methods.g2face.hiding import HidingExtractor
from faceveil.methods.g2face.mapper import DummyIdentityMapper, StyleMapper

PUBLISHED_WIDTH = 512  # channels of the 4 px constant at channel_scale 1


@dataclass(frozen=True)
class NetworkLayout:
    """Everything needed to build the four networks before a strict load (published values are the defaults).

    identity_dim / geometry_dim are the priors' output sizes the mapper was trained on:
    512 / 147 for ArcFace + Deep3DFaceRecon, 256 / 1404 for the offline MobileFace + FaceMesh.
    """

    size: int = 256
    channel_scale: float = 1.0
    extractor_width: int = 128
    extractor_blocks: int = 3
    identity_dim: int = IDENTITY_DIM
    geometry_dim: int = N_GEOMETRY_COEFFS

    @property
    def generator(self) -> GeneratorConfig:
        return GeneratorConfig(size=self.size, channel_scale=self.channel_scale)

    def build(self) -> G2FaceNetworks:
        """Freshly initialised networks of this layout."""
        gen = self.generator
        mapper = MapperConfig(identity_dim=self.identity_dim, geometry_dim=self.geometry_dim, split=style_split(gen.n_latent))
        return G2FaceNetworks(
            G2FaceGenerator(gen),
            StyleMapper(mapper),
            DummyIdentityMapper(self.identity_dim),
            HidingExtractor(ExtractorConfig(self.extractor_width, self.extractor_blocks)),
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping, source: str = "config") -> NetworkLayout:
        """Inverse of to_dict (e.g. from a container's method params); unknown or bad keys are InputError."""
        if not isinstance(values, Mapping):
            raise InputError(f"{source}: expected a mapping of g2face network settings, got {type(values).__name__}")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise InputError(f"{source}: unknown g2face network settings {unknown}; expected {sorted(names)}")
        try:
            return cls(**values)
        except TypeError as exc:
            raise InputError(f"{source}: bad g2face network settings ({exc})") from None

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping, source: str) -> NetworkLayout:
        """Read the layout off the tensor shapes of the four entries (and, for channel_scale, the
        training config when present: widths are rounded, so the scale is not exactly recoverable).

        Raises InputError when an entry is missing or the shapes are not those of G2Face networks.
        """
        missing = [e for e in G2FACE_ENTRIES if not isinstance(checkpoint.get(e), Mapping)]
        if missing:
            raise InputError(f"{source}: not a G2Face checkpoint (missing entries {missing}; expected {list(G2FACE_ENTRIES)})")
        gen, mlp, map_2_id, extractor = (strip_module_prefix(checkpoint[e]) for e in G2FACE_ENTRIES)
        try:
            n_to_rgbs = len({k.split(".")[1] for k in gen if k.startswith("to_rgbs.")})
            constant_width = gen["input.input"].shape[1]
            identity_dim = map_2_id["map_2_id.0.weight"].shape[1]
            mapper_in = mlp["style_low.0.weight"].shape[1]
            extractor_width = extractor["conv1x1_input.weight"].shape[0]
            extractor_blocks = len({k.split(".")[1] for k in extractor if k.startswith("body.")})
            trained = checkpoint.get("config")
            scale = float(trained["channel_scale"]) if isinstance(trained, Mapping) and "channel_scale" in trained \
                else constant_width / PUBLISHED_WIDTH
        except (KeyError, IndexError, AttributeError, TypeError, ValueError) as exc:
            raise InputError(f"{source}: tensor layout is not that of G2Face networks (cannot read {exc})") from None
        layout = cls(size=2 ** (n_to_rgbs + 2), channel_scale=scale, extractor_width=int(extractor_width),
                     extractor_blocks=extractor_blocks, identity_dim=int(identity_dim), geometry_dim=int(mapper_in - identity_dim))
        if layout.geometry_dim < 1 or n_to_rgbs < 2 or extractor_blocks < 1:
            raise InputError(f"{source}: tensor layout is not that of G2Face networks ({layout})")
        return layout
