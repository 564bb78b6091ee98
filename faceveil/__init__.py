"""faceveil: reversible face anonymization.

Python API (mirrors the CLI; see README):

    import faceveil
    report = faceveil.anonymize("photo.jpg", "out.png", keys=faceveil.KeyOptions(passphrase="correct horse"))
    faceveil.recover("out.png", "back.png", passphrase="correct horse")
    faceveil.inspect("out.png")
    faceveil.keygen("me.key")
"""

__version__ = "0.1.0"

# anonymize's option groups (faceveil.pipeline.options, faceveil.api.VideoSettings)
_OPTION_GROUPS = {"KeyOptions", "DetectOptions", "FaceOptions", "OutputOptions", "VideoSettings"}
__all__ = ["anonymize", "recover", "inspect", "keygen", *sorted(_OPTION_GROUPS), "__version__"]


def __getattr__(name):  # lazy: importing faceveil must stay cheap (no torch, no onnxruntime)
    if name in {"anonymize", "recover", "inspect", "keygen"} | _OPTION_GROUPS:
        from faceveil import api

        return getattr(api, name)
    raise AttributeError(name)
