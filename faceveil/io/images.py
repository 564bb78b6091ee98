"""Still-image loading and saving with a privacy-first metadata policy.

Pixels travel as numpy arrays ``(H, W, C)`` ``uint8`` with C in {1, 2, 3, 4} (L, LA, RGB, RGBA), EXIF
orientation already applied. Decoding is deterministic because recovery hashes the decoded pixels.

Metadata (EXIF with GPS and camera serials, XMP, ICC profiles) can identify the person who took or
appears in a photo, so :func:`encode_image` writes none of it unless asked.
"""

from __future__ import annotations

import io
import re
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, PngImagePlugin, UnidentifiedImageError

from faceveil.errors import FaceveilError, InputError, LimitExceededError
from faceveil.io.carriers import (
    insert_jpeg_metadata,
    insert_png_metadata,
    jpeg_metadata_as_png_chunks,
    jpeg_metadata_segments,
    png_metadata_chunks,
)

# Decoding cost grows with the pixel count the header declares, not with the file size: the audit's
# 571 KB PNG declaring 196 Mpx took 108 s and 2.8 GB. 120 Mpx admits the largest common camera and
# phone photos (108 Mpx sensors) and refuses such files from their header (docs/format.md §11);
# callers raise it with ``max_pixels`` for files they trust.
DEFAULT_MAX_PIXELS = 120_000_000
# The decode limit also counts bytes (issue 22): a 346 kB PNG declaring 10,900 x 10,900 grey pixels (under
# the pixel cap) took 4.4 GB. Estimated working memory of one image = width x height x (channels x bytes
# per sample as decoded + 3 bytes x WORKING_COPIES RGB copies: the upright RGB array, the anonymized copy
# and the encoder's / payload's). Measured peak (benchmarks/bench_limits.py pixels, docs/format.md §11):
# ~1.0 GB fixed (runtime + one detector tile) + ~11.4 MB per Mpx, so this budget keeps a whole run near
# 2 GB: 8-bit RGB up to ~89 Mpx, grey up to ~107 Mpx. A ``max_pixels`` the caller sets replaces it
# (``decode_budget``).
WORKING_COPIES = 3
DEFAULT_MAX_DECODE_BYTES = 1 << 30


def decode_bytes(width: int, height: int, channels: int, bytes_per_sample: int = 1) -> int:
    """Estimated working memory (bytes) of decoding and processing a width x height image."""
    return width * height * (channels * bytes_per_sample + 3 * WORKING_COPIES)


def decode_budget(max_pixels: int) -> int:
    """The byte budget that goes with a pixel limit: :data:`DEFAULT_MAX_DECODE_BYTES` at the default; a
    limit the caller set (raised for a trusted file, or tightened) is taken as meant, in pixels: the
    budget is then that many RGBA pixels' worth, so the pixel count alone decides."""
    if max_pixels == DEFAULT_MAX_PIXELS:
        return DEFAULT_MAX_DECODE_BYTES
    return decode_bytes(max_pixels, 1, 4)

_EXIF_ORIENTATION_TAG = 0x0112
_XMP_ORIENTATION_PATTERNS = (
    re.compile(rb'(tiff:Orientation=")[0-9](")'),
    re.compile(rb"(<tiff:Orientation>)[0-9](</tiff:Orientation>)"),
)

# XMP may embed base64 thumbnails of the original photo (xmp:Thumbnails / xmpGImg:image).
_XMP_THUMBNAILS = re.compile(rb"<xmp:Thumbnails\b.*?</xmp:Thumbnails>", re.DOTALL)

_FORMAT_BY_EXTENSION = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    # Netpbm: Pillow's "PPM" reads P2/P3/P5/P6 and writes P5 (gray) or P6 (colour) by the pixels' layout
    ".ppm": "PPM",
    ".pgm": "PPM",
    ".pnm": "PPM",
}
_FORMAT_ALIASES = {"JPG": "JPEG", "TIF": "TIFF", "PGM": "PPM", "PNM": "PPM"}
SUPPORTED_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "PPM")
# Decoders we let Pillow use: fewer parsers exposed to untrusted files. GIF is read (single frame)
# so that animated GIFs get a clear refusal instead of "unknown format".
_READABLE_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF", "PPM")  # JPEG includes MPO

# Channel count -> Pillow mode of the arrays we hand out and accept.
_MODE_BY_CHANNELS = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
# Source modes we convert on load to one of the four layouts above.
_CONVERTED_MODES = {
    "1": "L",
    "La": "LA",
    "RGBa": "RGBA",
    "RGBX": "RGB",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "PA": "RGBA",
}
_WIDE_RAWMODE = re.compile(r";(16|32)[BLNS]?$")
_HIGH_BIT_DEPTH_MODES = ("I", "F", "I;16", "I;16L", "I;16B", "I;16N", "I;16S", "I;32", "F;32")

# Layouts each container can store exactly. WebP has no gray layout, so gray is widened
# (losslessly) to RGB(A); formats without alpha are refused for LA/RGBA rather than silently dropping it.
_STORABLE_CHANNELS = {
    "PNG": {1, 2, 3, 4},
    "TIFF": {1, 2, 3, 4},
    "WEBP": {1, 2, 3, 4},
    "JPEG": {1, 3},
    "BMP": {1, 3},
    "PPM": {1, 3},
}
_DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,  # Pillow's TIFF reader raises it for missing required tags
    zlib.error,
)

# Pillow's decompression-bomb threshold and truncation policy are module globals; we set them per
# call, so concurrent decodes in this process must not interleave their settings.
_PILLOW_LIMIT_LOCK = threading.Lock()


@dataclass
class ImageMetadata:
    """What the source file carried; stripped by default on output because it can identify people.

    exif: raw EXIF block (TIFF structure, with or without the ``Exif\\0\\0`` prefix), as in the file.
    icc_profile: raw ICC profile.
    xmp: raw XMP packet (UTF-8 XML).
    jpeg_segments: a JPEG source's comment (COM) and other APPn segments (IPTC/Photoshop APP13, APP12,
        APP3-APP11, extended XMP...), verbatim (``io.carriers.jpeg_metadata_segments``).
    png_chunks: a PNG source's tEXt/zTXt/iTXt (except XMP), tIME, pHYs, gAMA, cHRM and sRGB chunks,
        verbatim (``io.carriers.png_metadata_chunks``).
    The last two are written back only on recovery (``encode_image(restore_original=True)``).
    """

    exif: bytes | None = None
    icc_profile: bytes | None = None
    xmp: bytes | None = None
    jpeg_segments: bytes | None = None
    png_chunks: bytes | None = None


# Every ImageMetadata field, i.e. what a recovery payload stores (as secrets "metadata.<field>").
METADATA_FIELDS = tuple(f.name for f in fields(ImageMetadata))


# IJG's base luminance table (natural order): libjpeg scales it by the quality setting.
_IJG_LUMA = (16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
             14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
             49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99)


@dataclass(frozen=True)
class JpegEncoding:
    """How a JPEG source was encoded, so a JPEG output can match it instead of a fixed quality 95 (which
    makes a web JPEG's output 2-4x the input): its own quantization tables (Pillow's natural order),
    its chroma subsampling (Pillow's 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0) and the IJG quality those tables
    are closest to (for reports; the tables themselves are reused)."""

    qtables: tuple[tuple[int, ...], ...]
    subsampling: int
    quality: int

    @classmethod
    def of(cls, image: Image.Image) -> JpegEncoding | None:
        from PIL import JpegImagePlugin

        tables = getattr(image, "quantization", None) or {}
        try:
            qtables = tuple(tuple(int(v) for v in tables[k]) for k in sorted(tables))
            subsampling = JpegImagePlugin.get_sampling(image) if len(image.getbands()) > 1 else 0  # -1 for gray
        except Exception:  # noqa: BLE001 - an odd JPEG: the output falls back to the fixed quality
            return None
        if not qtables or any(len(t) != 64 for t in qtables) or subsampling not in (0, 1, 2) or len(qtables) > 4:
            return None
        return cls(qtables, subsampling, estimate_jpeg_quality(qtables[0]))


def estimate_jpeg_quality(luma: tuple[int, ...] | list[int]) -> int:
    """The IJG quality (1-100) whose scaled luminance table is closest to ``luma`` (natural order)."""
    qualities = np.arange(1, 101)
    scales = np.where(qualities < 50, 5000 // qualities, 200 - 2 * qualities)[:, None]
    tables = np.clip((np.asarray(_IJG_LUMA, dtype=np.int64)[None, :] * scales + 50) // 100, 1, 255)
    errors = np.abs(tables - np.asarray(luma, dtype=np.int64)[None, :]).sum(axis=1)
    return int(qualities[np.argmin(errors)])  # the lowest quality among equally close ones


@dataclass
class LoadedImage:
    """A decoded still image.

    pixels: (H, W, C) uint8, C in {1, 2, 3, 4} = L, LA, RGB, RGBA, EXIF orientation already applied.
    format: Pillow format name of the source ("PNG", "JPEG", "WEBP", "TIFF", "BMP", ...).
    source: the encoded file it was decoded from (a recovery payload may store it instead of the
        face regions when it is the smaller exact representation: pipeline.photo).
    jpeg: a JPEG source's encoding settings (None for other formats).
    """

    pixels: np.ndarray
    format: str
    metadata: ImageMetadata
    path: Path | None = None
    source: bytes | None = None
    jpeg: JpegEncoding | None = None

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[2])

    def rgb(self) -> np.ndarray:
        """(H, W, 3) uint8 C-contiguous RGB for detection and methods: gray replicated, alpha dropped."""
        return to_rgb(self.pixels)


def to_rgb(pixels: np.ndarray) -> np.ndarray:
    """(H, W, C) uint8 with C in {1, 2, 3, 4} -> (H, W, 3) uint8 C-contiguous (gray replicated, alpha dropped)."""
    _check_layout(pixels)
    channels = pixels.shape[2]
    if channels >= 3:
        return np.ascontiguousarray(pixels[..., :3])
    return np.repeat(pixels[..., :1], 3, axis=2)


def merge_rgb(original: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Put processed RGB back into the original channel layout.

    original: (H, W, C) uint8, C in {1, 2, 3, 4}; rgb: (H, W, 3) uint8. Returns (H, W, C) uint8.
    Gray layouts get ITU-R BT.601 luminance ``(299 R + 587 G + 114 B + 500) // 1000`` (integer, so
    it is reproducible and maps replicated gray R = G = B = v back to exactly v). Alpha is copied
    from ``original`` untouched.
    """
    _check_layout(original)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8 or rgb.shape[:2] != original.shape[:2]:
        raise ValueError(f"merge_rgb needs (H, W, 3) uint8 matching {original.shape[:2]}, got {rgb.shape} {rgb.dtype}")
    channels = original.shape[2]
    if channels == 3:
        return rgb.copy()
    if channels == 4:
        return np.concatenate([rgb, original[..., 3:4]], axis=2)
    weights = np.array([299, 587, 114], dtype=np.uint32)
    luminance = ((rgb.astype(np.uint32) @ weights + 500) // 1000).astype(np.uint8)[..., None]
    if channels == 1:
        return luminance
    return np.concatenate([luminance, original[..., 1:2]], axis=2)


def format_for_path(path: str | Path) -> str:
    """Output format from a file extension (.png .jpg/.jpeg .webp .tif/.tiff .bmp .ppm/.pgm/.pnm), case-insensitive."""
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMAT_BY_EXTENSION:
        known = " ".join(sorted(_FORMAT_BY_EXTENSION))
        raise InputError(f"{path}: unsupported image extension {suffix or '(none)'!r}; use one of {known}")
    return _FORMAT_BY_EXTENSION[suffix]


def load_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read and decode an image file; see :func:`decode_image`. InputError if it cannot be read."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not an image file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    loaded = decode_image(data, max_pixels=max_pixels, name=str(path))
    loaded.path = path
    return loaded


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str = "<bytes>") -> LoadedImage:
    """Decode an encoded still image into (H, W, C) uint8 pixels with EXIF orientation applied.

    Refuses (InputError naming ``name``): empty/non-image/corrupt/truncated data, animated or
    multi-frame files, and 16-bit or float samples; images with more than ``max_pixels`` pixels are
    refused from their header, before decoding, with LimitExceededError (an InputError, exit 13).
    """
    if not data:
        raise InputError(f"{name}: file is empty")
    with _strict_pillow(max_pixels):
        try:
            image = Image.open(io.BytesIO(data), formats=_READABLE_FORMATS)
            _check_pixel_count(image.size, max_pixels, name)
            _check_single_frame(image, name)
            _check_bit_depth(image, name)
            _check_decode_bytes(image, max_pixels, name)
            image.load()
            # MPO (phone/3D-camera JPEG with extra frames) is a JPEG whose first frame is the photo.
            source_format = "JPEG" if image.format == "MPO" else image.format
            metadata = _read_metadata(image, data, source_format)
            jpeg = JpegEncoding.of(image) if source_format == "JPEG" else None
            upright = ImageOps.exif_transpose(image)  # also parses EXIF, which may be damaged
            pixels = _to_array(_normalise_mode(upright, name))
        except InputError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise LimitExceededError(f"{name}: image {_over_limit(max_pixels)}") from None
        except _DECODE_ERRORS as exc:
            raise InputError(f"{name}: not a readable image ({_describe(exc)})") from None
    # A second check on the decoded array: some formats only know their true size after decoding.
    _check_pixel_count((pixels.shape[1], pixels.shape[0]), max_pixels, name)
    return LoadedImage(pixels=pixels, format=source_format, metadata=metadata, source=data, jpeg=jpeg)


def encode_image(
    pixels: np.ndarray,
    fmt: str,
    *,
    quality: int = 95,
    metadata: ImageMetadata | None = None,
    keep_metadata: bool = False,
    keep_icc: bool = False,
    restore_original: bool = False,
    jpeg: JpegEncoding | None = None,
) -> bytes:
    """Encode (H, W, C) uint8 pixels (C in {1, 2, 3, 4}) as ``fmt``.

    ``jpeg``: a JPEG output reuses these quantization tables and chroma subsampling (a JPEG source's,
    so the output's quality matches the input's) instead of ``quality`` and 4:4:4.

    PNG, TIFF, BMP and WebP (always lossless, exact RGB under transparent pixels) reproduce the
    pixels exactly; WebP stores gray as RGB(A). JPEG uses ``quality`` and 4:4:4 chroma and cannot
    hold alpha (InputError). No metadata is written unless ``keep_metadata`` (EXIF with orientation
    reset to 1, XMP, ICC; never the EXIF/XMP thumbnails, which show the original face) or
    ``keep_icc`` (ICC only) is set and ``metadata`` provides it. An ICC profile is written only if
    it matches the stored colour space. TIFF keeps at most the ICC profile, BMP and Netpbm (PPM) nothing.

    ``restore_original`` (recovery only) also writes ``metadata.jpeg_segments`` into a JPEG and
    ``metadata.png_chunks`` into a PNG, verbatim: the comment, IPTC, text and time data of the original;
    into a PNG, a JPEG original's comment and IPTC/Photoshop data too (``jpeg_metadata_as_png_chunks``).
    Anonymized outputs never get them: IPTC/Photoshop data can hold a thumbnail of the original face.
    """
    _check_layout(pixels)
    fmt = _normalise_format(fmt)
    channels = pixels.shape[2]
    if channels not in _STORABLE_CHANNELS[fmt]:
        raise InputError(
            f"{fmt} cannot store an alpha channel ({_MODE_BY_CHANNELS[channels]} image); "
            "save as PNG or WebP to keep transparency"
        )
    if fmt == "JPEG" and not 1 <= quality <= 100:
        raise InputError(f"JPEG quality must be between 1 and 100, got {quality}")
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)
    stored_gray = channels <= 2 and fmt != "WEBP"
    metadata_options = _metadata_options(fmt, metadata, keep_metadata, keep_icc, stored_gray)
    options = _format_options(fmt, quality) | metadata_options
    if fmt == "JPEG" and jpeg is not None:
        tables = jpeg.qtables[:1] if channels <= 2 else (jpeg.qtables * 2)[: max(2, len(jpeg.qtables))]
        options |= {"qtables": [list(t) for t in tables], "subsampling": jpeg.subsampling}
        options.pop("quality", None)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    encoded = buffer.getvalue()
    if restore_original and metadata is not None:
        if fmt == "JPEG" and metadata.jpeg_segments:
            encoded = insert_jpeg_metadata(encoded, metadata.jpeg_segments)
        elif fmt == "PNG":
            # A JPEG original recovered into PNG (the bit-exact choice) keeps its comment and IPTC.
            converted = jpeg_metadata_as_png_chunks(metadata.jpeg_segments) if metadata.jpeg_segments else None
            chunks = (metadata.png_chunks or b"") + (converted or b"")
            if chunks:
                encoded = insert_png_metadata(encoded, chunks)
    return encoded


# --------------------------------------------------------------------------------------------
# decoding helpers


@contextmanager
def _strict_pillow(max_pixels: int) -> Iterator[None]:
    """Pillow settings for untrusted input, restored afterwards: its bomb check uses ``max_pixels``
    (warning above it, raised as an exception; error above twice it), and truncated files fail
    instead of being silently completed with gray (which would then be hashed as if genuine)."""
    if max_pixels <= 0:
        raise InputError(f"max_pixels must be positive, got {max_pixels}")
    with _PILLOW_LIMIT_LOCK:
        previous_limit, previous_truncated = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = max_pixels, False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                yield
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = previous_limit, previous_truncated


def _check_pixel_count(size: tuple[int, int], max_pixels: int, name: str) -> None:
    width, height = size
    if width * height > max_pixels:
        count = f"{width}x{height} = {width * height:,} pixels"
        raise LimitExceededError(f"{name}: image is {count}, {_over_limit(max_pixels)}")
    if width == 0 or height == 0:
        raise InputError(f"{name}: image has no pixels ({width}x{height})")


def _check_decode_bytes(image: Image.Image, max_pixels: int, name: str) -> None:
    """Refuse, from the header, an image whose estimated working memory exceeds the byte budget."""
    width, height = image.size
    channels = len(image.getbands())
    need, budget = decode_bytes(width, height, channels), decode_budget(max_pixels)
    if need > budget:
        raise LimitExceededError(
            f"{name}: image is {width}x{height} with {channels} channel(s): about {need / 2**20:,.0f} MiB to process, "
            f"above the decode budget of {budget / 2**20:,.0f} MiB (nothing was decoded; raise the pixel limit, "
            "--max-pixels / max_pixels, only if the file is trusted: the budget grows with it)")


def _over_limit(max_pixels: int) -> str:
    return (
        f"above the limit of {max_pixels:,} pixels (possible decompression bomb; nothing was decoded; "
        "raise the pixel limit, max_pixels, only if the file is trusted)"
    )


def _check_single_frame(image: Image.Image, name: str) -> None:
    frames = getattr(image, "n_frames", 1)
    if frames > 1 and image.format != "MPO":
        kind = "animated" if image.format in ("GIF", "WEBP", "PNG") else "multi-frame"
        raise InputError(
            f"{name}: {kind} {image.format} with {frames} frames is not supported as a photo; "
            "convert it to a video file and anonymize that instead"
        )


def _check_bit_depth(image: Image.Image, name: str) -> None:
    """Refuse samples wider than 8 bits: converting them would lose data the owner expects back."""
    wide = image.mode in _HIGH_BIT_DEPTH_MODES or image.mode.startswith(("I;", "F;"))
    # 48/64-bit PNG and TIFF open as mode RGB(A); only the raw mode of their tiles reveals 16-bit
    # samples. (Other formats' ";16" raw modes, e.g. BMP's 5-6-5 "BGR;16", are packed 8-bit colour.)
    if image.format in ("PNG", "TIFF"):
        for tile in image.tile:
            args = tile.args if isinstance(tile.args, tuple) else (tile.args,)
            rawmode = args[0] if args and isinstance(args[0], str) else ""
            wide = wide or bool(_WIDE_RAWMODE.search(rawmode))
    if wide:
        raise InputError(
            f"{name}: {image.format} with 16-bit or floating-point samples (mode {image.mode}) is not "
            "supported; convert it to 8 bits per channel first"
        )


def _normalise_mode(image: Image.Image, name: str) -> Image.Image:
    mode = image.mode
    if mode in _MODE_BY_CHANNELS.values():
        return image
    if mode == "P":
        has_alpha = "transparency" in image.info or image.palette is not None and image.palette.mode == "RGBA"
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode in _CONVERTED_MODES:
        return image.convert(_CONVERTED_MODES[mode])
    raise InputError(f"{name}: unsupported pixel mode {mode!r}; convert to 8-bit RGB, RGBA or grayscale")


def _to_array(image: Image.Image) -> np.ndarray:
    """Pillow image in L/LA/RGB/RGBA -> (H, W, C) uint8 C-contiguous."""
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 2:
        array = array[..., None]
    return np.ascontiguousarray(array)


def _read_metadata(image: Image.Image, data: bytes, source_format: str) -> ImageMetadata:
    xmp = image.info.get("xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    exif = image.info.get("exif")
    return ImageMetadata(
        exif=bytes(exif) if exif else None,
        icc_profile=image.info.get("icc_profile") or None,
        xmp=bytes(xmp) if xmp else None,
        jpeg_segments=_best_effort(jpeg_metadata_segments, data) if source_format == "JPEG" else None,
        png_chunks=_best_effort(png_metadata_chunks, data) if source_format == "PNG" else None,
    )


def _best_effort(read, data: bytes) -> bytes | None:
    # Our walkers are stricter than Pillow's (e.g. about bytes between JPEG segments): a file Pillow
    # decodes is still accepted, only without these extra segments.
    try:
        return read(data)
    except FaceveilError:
        return None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, UnidentifiedImageError):
        return f"not a {'/'.join(SUPPORTED_FORMATS)} image, or damaged beyond recognition"
    return text or type(exc).__name__


# --------------------------------------------------------------------------------------------
# encoding helpers


def _check_layout(pixels: np.ndarray) -> None:
    is_image_array = isinstance(pixels, np.ndarray) and pixels.dtype == np.uint8 and pixels.ndim == 3
    if not is_image_array or pixels.shape[2] not in _MODE_BY_CHANNELS:
        shape = getattr(pixels, "shape", None)
        dtype = getattr(pixels, "dtype", type(pixels).__name__)
        raise ValueError(f"expected (H, W, C) uint8 pixels with C in 1..4, got shape {shape} dtype {dtype}")


def _normalise_format(fmt: str) -> str:
    upper = fmt.upper().lstrip(".")
    upper = _FORMAT_ALIASES.get(upper, upper)
    if upper not in SUPPORTED_FORMATS:
        raise InputError(f"unsupported output format {fmt!r}; use one of {', '.join(SUPPORTED_FORMATS)}")
    return upper


def _format_options(fmt: str, quality: int) -> dict:
    if fmt == "JPEG":
        return {"quality": quality, "subsampling": 0, "optimize": True}
    if fmt == "WEBP":
        # exact=True keeps RGB under fully transparent pixels, which libwebp would otherwise rewrite.
        return {"lossless": True, "exact": True, "quality": 100, "method": 4}
    if fmt == "PNG":
        # level 3: ~3x faster than zlib's default 6 for ~5 % larger files on photos; PNG outputs
        # are on the hot path of every anonymization.
        return {"compress_level": 3}
    if fmt == "TIFF":
        return {"compression": "tiff_adobe_deflate"}
    return {}


def _metadata_options(
    fmt: str, metadata: ImageMetadata | None, keep_metadata: bool, keep_icc: bool, stored_gray: bool
) -> dict:
    if metadata is None or not (keep_metadata or keep_icc):
        return {}
    options: dict = {}
    if metadata.icc_profile and fmt not in ("BMP", "PPM") and icc_fits(metadata.icc_profile, gray=stored_gray):
        options["icc_profile"] = metadata.icc_profile
    if not keep_metadata:
        return options
    # TIFF would merge EXIF into its own tag directory (libtiff rejects GPS sub-IFDs there): skip it.
    exif = upright_exif(metadata.exif) if metadata.exif and fmt in ("JPEG", "PNG", "WEBP") else None
    if exif is not None:
        options["exif"] = exif
    if metadata.xmp:
        xmp = upright_xmp(without_xmp_thumbnails(metadata.xmp))
        if fmt in ("JPEG", "WEBP"):
            options["xmp"] = xmp
        elif fmt == "PNG":
            info = PngImagePlugin.PngInfo()
            info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8", errors="replace"))
            options["pnginfo"] = info
    return options


def icc_fits(icc_profile: bytes, *, gray: bool) -> bool:
    """Whether an ICC profile describes the colour space we store (bytes 16-20 of its header):
    a CMYK source's profile, or an RGB profile on gray pixels, would be wrong (and libpng rejects it)."""
    return icc_profile[16:20] == (b"GRAY" if gray else b"RGB ")


def upright_exif(exif: bytes) -> Image.Exif | None:
    """Parse raw EXIF and set its orientation to 1: our pixels are already rotated upright.

    Re-serialising keeps IFD0 and its Exif/GPS/Interop sub-directories but not IFD1, the embedded
    thumbnail, which shows the original un-anonymized face (tests/io guard this). None if the EXIF
    cannot be parsed: damaged EXIF is dropped rather than copied with a stale orientation."""
    parsed = Image.Exif()
    try:
        parsed.load(exif)
    except _DECODE_ERRORS:
        return None
    if _EXIF_ORIENTATION_TAG in parsed:
        parsed[_EXIF_ORIENTATION_TAG] = 1
    return parsed


def without_xmp_thumbnails(xmp: bytes) -> bytes:
    """Remove xmp:Thumbnails, which would show the original face, from an XMP packet."""
    return _XMP_THUMBNAILS.sub(b"", xmp)


def upright_xmp(xmp: bytes) -> bytes:
    """Set any tiff:Orientation in an XMP packet to 1, for the same reason as :func:`upright_exif`."""
    for pattern in _XMP_ORIENTATION_PATTERNS:
        xmp = pattern.sub(rb"\g<1>1\g<2>", xmp)
    return xmp
