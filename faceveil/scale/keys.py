"""Key material on a cluster: what the driver sends to workers, and how.

Public-key mode (the documented way): workers get the recipients' *public* keys only. They can seal
payloads and nothing else; no secret ever leaves the driver.

Passphrase mode: Argon2id runs once, on the driver (``PassphraseKey.create``: fresh 16-byte salt per
run). Workers never see the passphrase; they get the run's derived secret ``Argon2id(passphrase, salt)``
(32 bytes), from which the ordinary passphrase stanzas are made. That secret is *wrapped* for each
worker: every worker makes an ephemeral X25519 key pair when it starts and hands the driver its public
half; the driver seals the 32 bytes to it with faceveil's own envelope (``wrap_content_key``, the
x25519 stanza: ephemeral-static X25519 + HKDF + ChaCha20-Poly1305, bound to the run id). So Ray's
object store, its GCS (which keeps actor arguments) and its logs only ever carry ciphertext, and the
ephemeral private key dies with the worker process.

Recovery on a cluster works the same way with the secret that opens: an X25519 private key (32 bytes)
or the derived secret for each salt met in the files (derived on the driver when a worker asks).

What a compromised worker learns: see docs/scale.md ("Keys on a cluster").
"""

from __future__ import annotations

from faceveil.crypto.envelope import ContentKey, unwrap_content_key, wrap_content_key
from faceveil.crypto.keys import X25519Identity, X25519Recipient

_AAD = b"faceveil/scale/v1/worker-secret/"


def seal_for_worker(secret: bytes, worker_public_raw: bytes, run: str, label: str) -> dict:
    """A 32-byte secret wrapped for one worker's ephemeral public key (an x25519 recipient stanza)."""
    recipient = X25519Recipient.from_bytes(worker_public_raw)
    return wrap_content_key(ContentKey(secret), [recipient], _aad(run, label))[0]


def open_on_worker(stanza: dict, identity: X25519Identity, run: str, label: str) -> bytes:
    return unwrap_content_key([stanza], [identity], _aad(run, label)).to_bytes()


def _aad(run: str, label: str) -> bytes:
    # Binding run and purpose stops a stanza from one run or one use being replayed as another.
    return _AAD + run.encode() + b"/" + label.encode()


def private_key_bytes(identity: X25519Identity) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return identity.private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def identity_from_bytes(raw: bytes) -> X25519Identity:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    return X25519Identity(X25519PrivateKey.from_private_bytes(raw))


class KeyBroker:
    """The Ray actor that hands each worker its secrets, wrapped for that worker alone.

    Ray Data starts (and restarts) the workers itself, so the driver cannot talk to each one; the
    broker stands in for it. It holds only what the driver sealed to the broker's own ephemeral key
    (derived secrets and X25519 private keys: never the passphrase), unwraps them in memory, and
    re-wraps them for each worker's ephemeral key on request. One per run, named ``broker_name(run)``,
    placed on the driver's node, gone with the driver's job."""

    def __init__(self, run: str):
        self.run = run
        self._transport = X25519Identity.generate()
        self._seal: tuple[bytes, tuple, bytes] | None = None  # anonymize: (salt, argon2, derived secret)
        self._derived: dict[tuple[bytes, tuple], bytes] = {}  # recover: (salt, argon2) -> derived secret
        self._privates: list[bytes] = []

    def transport_key(self) -> bytes:
        return self._transport.recipient.raw

    def load(self, seal: tuple | None, derived: list, privates: list) -> int:
        """``seal``: (salt, argon2, stanza); ``derived``: [(salt, argon2, stanza)]; ``privates``: [stanza],
        every stanza wrapped for this broker. Adds to what it holds; returns how many secrets it has."""
        if seal is not None:
            salt, argon2, stanza = seal
            self._seal = (salt, tuple(argon2), open_on_worker(stanza, self._transport, self.run, "passphrase"))
        for salt, argon2, stanza in derived:
            self._derived[(salt, tuple(argon2))] = open_on_worker(stanza, self._transport, self.run, "passphrase")
        self._privates += [open_on_worker(s, self._transport, self.run, "x25519") for s in privates]
        return len(self._derived) + len(self._privates) + (self._seal is not None)

    def secrets_for(self, worker_public_raw: bytes) -> dict:
        """Everything this run's workers may hold, wrapped for one worker's ephemeral public key."""
        wrap = lambda secret, label: seal_for_worker(secret, worker_public_raw, self.run, label)  # noqa: E731
        return {
            "seal": None if self._seal is None else (self._seal[0], self._seal[1], wrap(self._seal[2], "passphrase")),
            "derived": [(salt, argon2, wrap(m, "passphrase")) for (salt, argon2), m in self._derived.items()],
            "privates": [wrap(p, "x25519") for p in self._privates],
        }


def broker_name(run: str) -> str:
    return f"faceveil-keys-{run}"
