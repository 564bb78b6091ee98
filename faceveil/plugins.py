"""Every plug-in faceveil knows, declared in one place: methods, face detectors, recognizers, train commands.

Each entry names its factory as ``"module:attribute"`` and is imported only when used, so this module
sits at the bottom of the layer stack (it imports nothing of faceveil but errors) and ``faceveil --help``
stays free of torch. The CLI help texts, ``faceveil models``, ``faceveil eval`` and the create
functions (``methods.base.create_method``, ``faces.detect.create_detector``,
``analysis.recognizers.create_recognizer``) all read these tables.

Adding a method: write its folder under ``faceveil/methods/`` and add one line to ``METHODS``.
Third-party code can add entries at run time with ``Registry.add`` (``methods.base.register_method``
and ``faces.detect.register_detector`` do that).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from faceveil.errors import UsageError, optional_dependency_error


@dataclass(frozen=True)
class Plugin:
    """One plug-in. ``factory``: "module:attribute" (or a callable for run-time additions) taking the
    options as keywords. ``models``: names in ``faceveil.models_registry`` it may need; ``module``:
    the module whose import registers them (``faceveil models`` imports it). ``options``: the
    options' schema, a "module:Dataclass" whose fields are the accepted ``-O KEY=VALUE`` names."""

    name: str
    factory: str | Callable[..., object]
    summary: str
    models: tuple[str, ...] = ()
    module: str | None = None
    options: str | None = None
    internal: tuple[str, ...] = ()  # options only Python callers can give (objects): left out of help

    def load(self) -> Callable[..., object]:
        try:
            return _resolve(self.factory)
        except ModuleNotFoundError as exc:  # torch absent: a learned plug-in without the `learned` extra
            raise _missing(exc, self.name) from None

    def option_names(self) -> list[str]:
        """The accepted option names: the options dataclass's fields, else the factory's keyword
        parameters (learned methods take theirs directly)."""
        return list(self.option_defaults(internal=True))

    def option_defaults(self, *, internal: bool = False) -> dict[str, object]:
        """``{name: default}`` from the same schema (``-O`` keys and values in ``faceveil anonymize --help``);
        ``internal`` ones are left out unless asked for."""
        import dataclasses
        import inspect

        if self.options is None:
            params = inspect.signature(self.load()).parameters.values()
            found = {p.name: (None if p.default is p.empty else p.default) for p in params
                     if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
        else:
            found = {}
            for f in dataclasses.fields(_resolve(self.options)):
                if f.default is not dataclasses.MISSING:
                    found[f.name] = f.default
                else:
                    found[f.name] = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        return found if internal else {k: v for k, v in found.items() if k not in self.internal}

    def check_options(self, options: dict, kind: str = "plug-in") -> None:
        """UsageError for a key the plug-in does not take (listing those it does) or, where the options
        schema declares a plain type (int, float, bool, str), a value of another type (``-O cells=abc``).
        Factories taking ``**options`` without a schema check their own keys."""
        import inspect

        params = inspect.signature(self.load()).parameters.values()
        if self.options is None and any(p.kind is p.VAR_KEYWORD for p in params):
            return
        names = self.option_names()
        # the factory's own keywords (e.g. a ``config`` object) are accepted too, but not advertised
        accepted = set(names) | {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}
        for key in options:
            if key not in accepted:
                takes = ", ".join(names) if names else "no options"
                raise UsageError(f"{kind} {self.name!r} takes no option {key!r}; it takes: {takes}")
        if self.options is None:
            return
        import dataclasses

        declared = {f.name: f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
                    for f in dataclasses.fields(_resolve(self.options))}
        for key, value in options.items():
            expected = _PLAIN_TYPES.get(declared.get(key, ""))
            if expected is not None and not _is_a(value, expected):
                raise UsageError(f"{kind} {self.name!r} option {key} must be {declared[key]}, got {value!r}")


_PLAIN_TYPES = {"int": int, "float": float, "bool": bool, "str": str}


def _is_a(value: object, expected: type) -> bool:
    if isinstance(value, bool):  # JSON true/false are bools; a bool is no number here
        return expected is bool
    if expected is float:
        return isinstance(value, (int, float))
    return isinstance(value, expected)


def _missing(exc: ModuleNotFoundError, name: str) -> Exception:
    return optional_dependency_error(exc, repr(name)) or exc


def _resolve(target: str | Callable[..., object]):
    if callable(target):
        return target
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


class Registry:
    """Name -> Plugin for one kind; ``unknown`` formats the error for a name not in the table."""

    def __init__(self, kind: str, plugins: list[Plugin], unknown: str) -> None:
        self.kind = kind
        self._plugins = {p.name: p for p in plugins}
        self._unknown = unknown

    def __contains__(self, name: object) -> bool:
        return name in self._plugins

    def __iter__(self) -> Iterator[Plugin]:
        return iter(self._plugins.values())

    def names(self) -> list[str]:
        return list(self._plugins)

    def get(self, name: str) -> Plugin:
        if name not in self._plugins:
            raise UsageError(self._unknown.format(name=name, choices=", ".join(self.names())))
        return self._plugins[name]

    def add(self, plugin: Plugin) -> None:
        self._plugins[plugin.name] = plugin

    def check_options(self, name: str, options: dict) -> None:
        """UsageError for options the plug-in does not take (see :meth:`Plugin.check_options`)."""
        self.get(name).check_options(options, self.kind)

    def create(self, name: str, **options):
        plugin = self.get(name)
        factory = plugin.load()
        try:
            return factory(**options)
        except ModuleNotFoundError as exc:  # a factory importing torch lazily
            raise _missing(exc, name) from None

    def help(self, default: str | None = None) -> str:
        """``a (default), b, c`` for CLI help texts."""
        return ", ".join(f"{n} (default)" if n == default else n for n in self.names())


DEFAULT_METHOD = "mosaic"
DEFAULT_DETECTOR = "centerface"

_CLASSICAL = "faceveil.methods.classical"
METHODS = Registry("method", [
    Plugin("mosaic", f"{_CLASSICAL}:MosaicMethod", "noisy mosaic of random cells (default)", module=_CLASSICAL, options=f"{_CLASSICAL}:MosaicConfig"),
    Plugin("blur", f"{_CLASSICAL}:GaussianBlurMethod", "Gaussian blur", module=_CLASSICAL, options=f"{_CLASSICAL}:BlurConfig"),
    Plugin("pixelate", f"{_CLASSICAL}:PixelateMethod", "large square pixels", module=_CLASSICAL, options=f"{_CLASSICAL}:PixelateConfig"),
    Plugin("median", f"{_CLASSICAL}:MedianMethod", "median filter; does NOT hide identity from face recognizers (measured)", module=_CLASSICAL, options=f"{_CLASSICAL}:MedianConfig"),
    Plugin("solid", f"{_CLASSICAL}:SolidMethod", "solid colour fill", module=_CLASSICAL, options=f"{_CLASSICAL}:SolidConfig"),
    Plugin("replace", "faceveil.methods.replace:ReplaceMethod", "paste the image given as -O image=FILE over each face (deface's --replacewith img)",
           module="faceveil.methods.replace", options="faceveil.methods.replace:ReplaceConfig"),
    Plugin("proface-s", "faceveil.methods.proface_s:ProFaceSMethod", "PRO-Face S: invertible obfuscation with a secret key",
           models=("proface-s", "proface-s-official"), module="faceveil.methods.proface_s", internal=("faceswap", "password")),  # password: --compat-password-file
    Plugin("g2face", "faceveil.methods.g2face.registration:create_g2face", "G2Face: generated dummy face hiding the original",
           module="faceveil.methods.g2face", internal=("engine",)),
], unknown="unknown method {name!r}; choose one of: {choices}")

_DETECT = "faceveil.analysis.detectors"
DETECTORS = Registry("face detector", [
    Plugin("centerface", "faceveil.faces.detect:_centerface_factory", "CenterFace (5 landmarks; default)",
           models=("centerface",), module="faceveil.faces.detect", options="faceveil.faces.detect:DetectorConfig"),
    Plugin("dlib-hog", f"{_DETECT}:_dlib_hog", "dlib HOG (boxes only)", module="faceveil.analysis.dlib_models"),
    Plugin("dlib-mmod", f"{_DETECT}:_dlib_mmod", "dlib MMOD CNN (boxes only)", module="faceveil.analysis.dlib_models"),
    Plugin("blazeface", f"{_DETECT}:_blazeface", "MediaPipe BlazeFace (6 keypoints)", module="faceveil.analysis.mediapipe_models",
           options="faceveil.analysis.mediapipe_models:BlazeFaceConfig"),
    Plugin("haar", f"{_DETECT}:_haar", "OpenCV Haar cascade (boxes only)", module="faceveil.analysis.haar_model",
           options=f"{_DETECT}:HaarConfig"),
], unknown="unknown face detector {name!r}; choose one of: {choices}")

_REC = "faceveil.analysis.recognizers"
RECOGNIZERS = Registry("recognizer", [
    Plugin("dlib", f"{_REC}:_dlib", "dlib ResNet face descriptor", module="faceveil.analysis.dlib_models"),
    Plugin("faceres", f"{_REC}:_faceres", "HSE FaceRes (human-models)", module="faceveil.analysis.human_models"),
    Plugin("mobileface", f"{_REC}:_mobileface", "MobileFace (human-models)", module="faceveil.analysis.human_models"),
    Plugin("arcface", f"{_REC}:_arcface", "ArcFace iResNet-50 (user weights)", module="faceveil.analysis"),
], unknown="unknown recognizer {name!r}; choose from: {choices}")

TRAIN_COMMANDS = Registry("train command", [
    Plugin("proface-s", "faceveil.methods.proface_s.train:app",
           "Train PRO-Face S (invertible obfuscation; see --help for data, modes, resolution)."),
    Plugin("g2face", "faceveil.methods.g2face.train:app", "Train G2Face (published or offline priors; see --help)."),
], unknown="unknown train command {name!r}; choose one of: {choices}")

# Modules whose import registers model files for `faceveil models` (the analysis package registers its
# evaluation models on import).
MODEL_MODULES: tuple[str, ...] = tuple(dict.fromkeys(
    [p.module for reg in (DETECTORS, METHODS, RECOGNIZERS) for p in reg if p.module] + ["faceveil.analysis"]
))
