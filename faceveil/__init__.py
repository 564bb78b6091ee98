"""faceveil: reversible face anonymization.

Python API (mirrors the CLI; see README):

    import faceveil
    report = faceveil.anonymize("photo.jpg", "out.png", passphrase="correct horse")
    faceveil.recover("out.png", "back.png", passphrase="correct horse")
    faceveil.inspect("out.png")
    faceveil.keygen("me.key")
"""

__version__ = "0.1.0"

__all__ = ["anonymize", "recover", "inspect", "keygen", "__version__"]


def __getattr__(name):  # lazy: importing faceveil must stay cheap (no torch, no onnxruntime)
    if name in {"anonymize", "recover", "inspect", "keygen"}:
        from faceveil import api

        return getattr(api, name)
    raise AttributeError(name)
