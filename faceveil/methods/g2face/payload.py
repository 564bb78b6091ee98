"""What the generator hides in a face: the key holder's identity embedding, encrypted and
error-corrected (``secure``, default), or the published plaintext float bits (``paper``).

Secure layout of the 16384-bit channel (see docs/models/g2face.md for the arithmetic):

    plaintext   512 x float16 identity embedding                       1024 bytes
    sealed      nonce (12) || ChaCha20-Poly1305(plaintext) (1024 + 16)  1052 bytes
    padded      sealed || 4 zero bytes                                  1056 = 8 x 132 bytes
    coded       8 Reed-Solomon RS(255, 132) codewords, 123 parity each  2040 bytes
    channel     coded interleaved byte-wise across codewords, || 8 zero bytes = 2048 bytes = 16384 bits,
                XORed with a fixed public whitening sequence (so a constant bit map, e.g. from a
                blank or untrained extractor, is not the valid all-zero codeword)

Another channel or identity size (a checkpoint trained at another size or with the offline priors)
gets ``SecureLayout.for_channel``: the same construction over as many full codewords as fit, and
8-bit values (``int8`` times one float16 scale) when float16 would leave too little parity.

Each codeword corrects 61 wrong bytes (or up to 123 bytes flagged as erasures from low-confidence
extractor logits). Interleaving puts consecutive channel bytes into different codewords, so a burst
(a scratch, an occluded band of the 128 x 128 bit map) is shared among all 8 codewords.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import torch
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from reedsolo import ReedSolomonError, RSCodec

from faceveil.errors import InputError, PayloadCorruptError, WrongKeyError
from faceveil.methods.g2face.bitcodec import bits_to_float, float_to_bits, logits_to_bits

PayloadMode = Literal["secure", "paper"]
PAYLOAD_MODES: tuple[str, ...] = ("secure", "paper")
KEY_LABEL = "g2face/identity-payload/v1"  # HKDF label for FaceContext.derive_secret
KEY_BYTES = 32
_AAD = b"faceveil/g2face/identity-payload/v1"
_WHITENING_SEED = 0x67326661  # public constant: whitening is not a secret, only a scrambler
# Fewest RS parity bytes per codeword a derived layout may keep: 20 correctable errors, and the
# erasure retries in SecurePayload._decode_word keep 20 of them unused to detect mis-corrections.
MIN_PARITY = 40
PUBLISHED_CHANNEL_BITS = 16384


@dataclass(frozen=True)
class SecureLayout:
    """Sizes of the secure payload; defaults fill the published 16384-bit channel."""

    channel_bits: int = 16384
    embedding_dim: int = 512
    nonce_bytes: int = 12
    tag_bytes: int = 16
    codewords: int = 8
    codeword_bytes: int = 255  # RS over GF(256): at most 255 bytes per codeword
    data_per_codeword: int = 132
    value_bytes: int = 2  # 2: float16 values; 1: int8 values times one float16 scale (small channels)

    @property
    def plaintext_bytes(self) -> int:
        scale = 2 if self.value_bytes == 1 else 0
        return self.embedding_dim * self.value_bytes + scale

    @property
    def sealed_bytes(self) -> int:
        return self.nonce_bytes + self.plaintext_bytes + self.tag_bytes

    @property
    def parity_per_codeword(self) -> int:
        return self.codeword_bytes - self.data_per_codeword

    @property
    def correctable_bytes_per_codeword(self) -> int:
        return self.parity_per_codeword // 2

    @property
    def channel_bytes(self) -> int:
        return self.channel_bits // 8

    def validate(self) -> None:
        if self.codewords * self.data_per_codeword < self.sealed_bytes:
            raise ValueError("Reed-Solomon data capacity is smaller than the sealed payload")
        if self.codewords * self.codeword_bytes > self.channel_bytes:
            raise ValueError("coded payload does not fit the channel")

    @classmethod
    def for_channel(cls, channel_bits: int, embedding_dim: int) -> SecureLayout:
        """The layout for another channel / embedding size (a checkpoint trained at another size or
        with other priors): as many full 255-byte codewords as the channel holds, the sealed payload
        spread evenly over them. The published (16384, 512) gives exactly the default layout.
        InputError when fewer than MIN_PARITY parity bytes per codeword would remain."""
        channel_bytes = channel_bits // 8
        codewords = max(1, channel_bytes // 255)
        codeword_bytes = min(255, channel_bytes // codewords)
        for value_bytes in (2, 1):  # float16 when it fits, else 8-bit values
            sealed = cls(channel_bits=channel_bits, embedding_dim=embedding_dim, value_bytes=value_bytes).sealed_bytes
            data = -(-sealed // codewords)  # ceil
            if codeword_bytes - data >= MIN_PARITY:
                return cls(channel_bits=channel_bits, embedding_dim=embedding_dim, codewords=codewords,
                           codeword_bytes=codeword_bytes, data_per_codeword=data, value_bytes=value_bytes)
        needed = (sealed + codewords * MIN_PARITY) * 8
        raise InputError(
            f"a {channel_bits}-bit hidden channel is too small for the secure payload of a {embedding_dim}-d "
            f"identity (needs about {needed} bits: {sealed} sealed bytes of 8-bit values + {MIN_PARITY} parity bytes "
            "per codeword); use a checkpoint trained at a larger size")


class PayloadCodec(Protocol):
    mode: str

    def encode(self, embedding: torch.Tensor, key: bytes | None) -> torch.Tensor:
        """embedding (512,) -> bits (n_bits,) float in {0, 1}."""

    def decode(self, logits: torch.Tensor, key: bytes | None) -> torch.Tensor:
        """extractor logits (n_bits,) -> embedding (512,) float32."""


class PaperPayload:
    """The published behaviour: the plaintext float32 embedding, 32 bits per value, no protection.
    Anyone with the public extractor reads the identity template back out."""

    mode = "paper"

    def __init__(self, channel_bits: int = PUBLISHED_CHANNEL_BITS, embedding_dim: int = 512):
        if embedding_dim * 32 > channel_bits:
            raise InputError(f"a {channel_bits}-bit hidden channel cannot carry a {embedding_dim}-d float32 identity "
                             f"in paper mode (needs {embedding_dim * 32} bits)")
        self.channel_bits, self.embedding_dim = channel_bits, embedding_dim

    def encode(self, embedding: torch.Tensor, key: bytes | None = None) -> torch.Tensor:
        """(embedding_dim,) -> (channel_bits,) bits; a smaller identity than the channel is zero-padded.
        An exact 0 is sent as 1e-8, as the official ``float2bit`` does (it cannot represent 0)."""
        values = embedding.reshape(-1).to(torch.float32)
        bits = float_to_bits(torch.where(values == 0, torch.full_like(values, 1e-8), values))
        return torch.cat([bits, bits.new_zeros(self.channel_bits - bits.shape[0])])

    def decode(self, logits: torch.Tensor, key: bytes | None = None) -> torch.Tensor:
        used = logits.reshape(-1)[: self.embedding_dim * 32]
        return bits_to_float(logits_to_bits(used))


class SecurePayload:
    """AEAD-encrypted float16 (or scaled int8) embedding + interleaved Reed-Solomon, filling the channel."""

    mode = "secure"

    def __init__(self, layout: SecureLayout = SecureLayout()):
        layout.validate()
        self.layout = layout
        self._rs = RSCodec(layout.parity_per_codeword, nsize=layout.codeword_bytes)
        self._whitening = np.random.default_rng(_WHITENING_SEED).integers(0, 256, layout.channel_bytes, dtype=np.uint8)

    # -- bytes <-> channel -------------------------------------------------------------------
    def _interleave(self, codewords: list[bytes]) -> bytes:
        """Codeword c byte j -> channel byte j * n_codewords + c, then zero fill to the channel size."""
        stacked = np.frombuffer(b"".join(codewords), dtype=np.uint8).reshape(self.layout.codewords, -1)
        stream = stacked.T.reshape(-1).tobytes()
        channel = np.frombuffer(stream + bytes(self.layout.channel_bytes - len(stream)), dtype=np.uint8)
        return (channel ^ self._whitening).tobytes()

    def _deinterleave(self, channel: np.ndarray) -> np.ndarray:
        """(channel_bytes, ...) -> (codewords, codeword_bytes, ...)."""
        n = self.layout.codewords * self.layout.codeword_bytes
        used = channel[:n]
        return used.reshape(self.layout.codeword_bytes, self.layout.codewords, *channel.shape[1:]).swapaxes(0, 1)

    # -- public ------------------------------------------------------------------------------
    def seal(self, embedding: torch.Tensor, key: bytes, nonce: bytes | None = None) -> bytes:
        """Encrypt the float16 embedding; a fresh random nonce is prepended (keys may be reused
        across frames and faces, so the nonce must never repeat)."""
        if len(key) != KEY_BYTES:
            raise InputError(f"payload key must be {KEY_BYTES} bytes")
        values = embedding.detach().reshape(-1).to(torch.float32).cpu().numpy()
        if values.shape[0] != self.layout.embedding_dim:
            raise InputError(f"identity embedding must have {self.layout.embedding_dim} values, got {values.shape[0]}")
        plaintext = self._quantize(values)
        nonce = os.urandom(self.layout.nonce_bytes) if nonce is None else nonce
        return nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, _AAD)

    def open(self, sealed: bytes, key: bytes, corrected_bytes: int = 0) -> torch.Tensor:
        """Decrypt. ``corrected_bytes`` (from error correction) decides how a failure is reported:
        a clean channel that does not open means a wrong key; a heavily corrected one more likely
        decoded to the wrong codeword."""
        n = self.layout.nonce_bytes
        try:
            plaintext = ChaCha20Poly1305(key).decrypt(sealed[:n], sealed[n : self.layout.sealed_bytes], _AAD)
        except InvalidTag:
            lay = self.layout
            if corrected_bytes > lay.codewords * lay.correctable_bytes_per_codeword // 4:
                raise PayloadCorruptError("the hidden identity is damaged beyond repair (or the key is wrong)") from None
            raise WrongKeyError("the hidden identity does not open with this key") from None
        return torch.from_numpy(self._dequantize(plaintext))

    def _quantize(self, values: np.ndarray) -> bytes:
        """(embedding_dim,) float32 -> plaintext bytes: float16 values, or a float16 scale + int8 values."""
        fp16_max = float(np.finfo(np.float16).max)
        values = np.clip(values, -fp16_max, fp16_max)
        if self.layout.value_bytes == 2:
            return values.astype("<f2").tobytes()
        # quantize with the scale as stored (float16-rounded), so decoding multiplies by the same number
        scale = np.float16(np.abs(values).max() / 127) or np.float16(1)
        levels = np.clip(np.round(values / np.float32(scale)), -127, 127).astype(np.int8)
        return np.array([scale], dtype="<f2").tobytes() + levels.tobytes()

    def _dequantize(self, plaintext: bytes) -> np.ndarray:
        """Inverse of _quantize -> (embedding_dim,) float32."""
        if self.layout.value_bytes == 2:
            return np.frombuffer(plaintext, dtype="<f2").astype(np.float32)
        scale = np.frombuffer(plaintext[:2], dtype="<f2").astype(np.float32)[0]
        return np.frombuffer(plaintext[2:], dtype=np.int8).astype(np.float32) * scale

    def encode_bytes(self, sealed: bytes) -> bytes:
        lay = self.layout
        data = sealed + bytes(lay.codewords * lay.data_per_codeword - len(sealed))
        k = lay.data_per_codeword
        return self._interleave([bytes(self._rs.encode(data[i * k : (i + 1) * k])) for i in range(lay.codewords)])

    def decode_bytes(self, channel: bytes, confidence: np.ndarray | None = None) -> tuple[bytes, int]:
        """Error-correct the channel -> (sealed bytes, number of corrected bytes).

        confidence: (channel_bytes,) per-byte reliability (e.g. min |logit| of its bits); when plain
        decoding of a codeword fails, its least reliable bytes are retried as erasures.
        """
        lay = self.layout
        words = self._deinterleave(np.frombuffer(channel, dtype=np.uint8) ^ self._whitening)
        conf = self._deinterleave(confidence) if confidence is not None else None
        data, corrected = [], 0
        for c in range(lay.codewords):
            word = bytearray(words[c].tobytes())
            decoded = self._decode_word(word, None if conf is None else conf[c])
            if decoded is None:
                raise PayloadCorruptError(
                    f"hidden payload has more bit errors than the code corrects (codeword {c + 1}/{lay.codewords}); "
                    "the image was probably resized, recompressed or edited too much")
            msg, n_fixed = decoded
            data.append(msg)
            corrected += n_fixed
        return b"".join(data)[: lay.sealed_bytes], corrected

    def _decode_word(self, word: bytearray, confidence: np.ndarray | None) -> tuple[bytes, int] | None:
        attempts: list[list[int] | None] = [None]
        if confidence is not None:
            order = np.argsort(confidence, kind="stable")
            nsym = self.layout.parity_per_codeword
            # keep >= 20 parity symbols unused by erasures so miscorrections stay detectable
            attempts += [sorted(order[:n].tolist()) for n in (nsym // 2, (3 * nsym) // 4, nsym - 20)]
        for erasures in attempts:
            try:
                msg, _, errata = self._rs.decode(word, erase_pos=erasures)
            except ReedSolomonError:
                continue
            return bytes(msg), len(errata)
        return None

    def encode(self, embedding: torch.Tensor, key: bytes | None) -> torch.Tensor:
        if key is None:
            raise InputError("secure payload needs key material")
        channel = np.frombuffer(self.encode_bytes(self.seal(embedding, key)), dtype=np.uint8)
        return torch.from_numpy(np.unpackbits(channel).astype(np.float32))

    def decode(self, logits: torch.Tensor, key: bytes | None) -> torch.Tensor:
        if key is None:
            raise InputError("secure payload needs key material")
        flat = logits.detach().reshape(-1).to(torch.float32).cpu().numpy()
        if flat.shape[0] != self.layout.channel_bits:
            raise InputError(f"expected {self.layout.channel_bits} bit logits, got {flat.shape[0]}")
        channel = np.packbits(flat >= 0).tobytes()
        confidence = np.abs(flat).reshape(-1, 8).min(axis=1)
        sealed, corrected = self.decode_bytes(channel, confidence)
        return self.open(sealed, key, corrected)


def make_payload_codec(mode: str, channel_bits: int = PUBLISHED_CHANNEL_BITS, embedding_dim: int = 512) -> PayloadCodec:
    """The codec for a generator hiding ``channel_bits`` bits and an identity prior of ``embedding_dim``
    values (published: 16384 and 512); InputError when the payload does not fit the channel."""
    if mode == "secure":
        return SecurePayload(SecureLayout.for_channel(channel_bits, embedding_dim))
    if mode == "paper":
        return PaperPayload(channel_bits, embedding_dim)
    raise InputError(f"unknown payload mode {mode!r}; choose one of: {', '.join(PAYLOAD_MODES)}")
