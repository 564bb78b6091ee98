"""faceveil.io.images: layouts, formats, orientation, metadata policy and refusal of bad input."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from io_helpers import pillow_bytes, pillow_pixels
from PIL import Image, ImageCms, JpegImagePlugin

from faceveil.errors import InputError, LimitExceededError
from faceveil.io.images import (
    DEFAULT_MAX_PIXELS,
    ImageMetadata,
    decode_image,
    encode_image,
    format_for_path,
    load_image,
    merge_rgb,
)

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def _layouts(rgb: np.ndarray) -> dict[int, np.ndarray]:
    """The four supported layouts derived from a real photo; alpha is a gradient that includes 0."""
    gray = merge_rgb(rgb[..., :1], rgb)
    alpha = np.linspace(0, 255, rgb.shape[1], dtype=np.uint8)[None, :, None].repeat(rgb.shape[0], axis=0)
    return {
        1: gray,
        2: np.concatenate([gray, alpha], axis=2),
        3: rgb,
        4: np.concatenate([rgb, alpha], axis=2),
    }


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse))


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_lossless_round_trip_is_exact_for_every_layout(small_astronaut, channels, fmt):
    pixels = _layouts(small_astronaut)[channels]
    loaded = decode_image(encode_image(pixels, fmt))
    assert loaded.format == fmt
    assert loaded.pixels.dtype == np.uint8 and loaded.pixels.shape == pixels.shape
    np.testing.assert_array_equal(loaded.pixels, pixels)


@pytest.mark.parametrize("channels", [1, 3])
def test_bmp_round_trip_is_exact(small_astronaut, channels):
    pixels = _layouts(small_astronaut)[channels]
    np.testing.assert_array_equal(decode_image(encode_image(pixels, "BMP")).pixels, pixels)


def test_webp_is_lossless_even_under_transparent_pixels(small_astronaut):
    rgba = _layouts(small_astronaut)[4]
    assert (rgba[..., 3] == 0).any() and rgba[rgba[..., 3] == 0][:, :3].any()
    np.testing.assert_array_equal(decode_image(encode_image(rgba, "WEBP")).pixels, rgba)
    rgb = small_astronaut
    np.testing.assert_array_equal(decode_image(encode_image(rgb, "webp")).pixels, rgb)


def test_webp_stores_gray_as_replicated_rgb(small_astronaut):
    layouts = _layouts(small_astronaut)
    decoded_gray = decode_image(encode_image(layouts[1], "WEBP")).pixels
    np.testing.assert_array_equal(decoded_gray, np.repeat(layouts[1], 3, axis=2))
    decoded_la = decode_image(encode_image(layouts[2], "WEBP")).pixels
    np.testing.assert_array_equal(decoded_la[..., 3], layouts[2][..., 1])
    np.testing.assert_array_equal(merge_rgb(layouts[2], decoded_la[..., :3]), layouts[2])


def test_jpeg_is_high_quality_444(astronaut_rgb):
    data = encode_image(astronaut_rgb, "JPEG")
    with Image.open(io.BytesIO(data)) as image:
        assert JpegImagePlugin.get_sampling(image) == 0  # 4:4:4
    assert _psnr(decode_image(data).pixels, astronaut_rgb) > 38
    assert len(encode_image(astronaut_rgb, "JPEG", quality=30)) < len(data)


@pytest.mark.parametrize("channels", [2, 4])
@pytest.mark.parametrize("fmt", ["JPEG", "BMP"])
def test_formats_without_alpha_refuse_alpha_layouts(small_astronaut, channels, fmt):
    with pytest.raises(InputError, match="PNG or WebP"):
        encode_image(_layouts(small_astronaut)[channels], fmt)


def test_decoding_is_deterministic(hopper_jpeg_bytes):
    first, second = decode_image(hopper_jpeg_bytes), decode_image(hopper_jpeg_bytes)
    np.testing.assert_array_equal(first.pixels, second.pixels)
    assert first.pixels.shape == (600, 512, 3)


def test_load_image_reads_real_jpeg(tmp_path, hopper_jpeg_bytes):
    path = tmp_path / "hopper.jpg"
    path.write_bytes(hopper_jpeg_bytes)
    loaded = load_image(path)
    assert loaded.path == path and loaded.format == "JPEG"
    np.testing.assert_array_equal(loaded.pixels, pillow_pixels(hopper_jpeg_bytes))


# ---------------------------------------------------------------- layouts and conversions


def test_rgb_view_replicates_gray_and_drops_alpha(small_astronaut):
    layouts = _layouts(small_astronaut)
    for channels, pixels in layouts.items():
        rgb = decode_image(encode_image(pixels, "PNG")).rgb()
        assert rgb.shape == small_astronaut.shape and rgb.flags.c_contiguous
        expected = small_astronaut if channels >= 3 else np.repeat(layouts[1], 3, axis=2)
        np.testing.assert_array_equal(rgb, expected)


def test_merge_rgb_keeps_alpha_and_is_identity_on_unprocessed_gray(small_astronaut):
    layouts = _layouts(small_astronaut)
    for channels in (1, 2):
        replicated = np.repeat(layouts[channels][..., :1], 3, axis=2)
        np.testing.assert_array_equal(merge_rgb(layouts[channels], replicated), layouts[channels])
    processed = 255 - small_astronaut
    merged = merge_rgb(layouts[4], processed)
    np.testing.assert_array_equal(merged[..., :3], processed)
    np.testing.assert_array_equal(merged[..., 3], layouts[4][..., 3])


def test_merge_rgb_luminance_matches_bt601(small_astronaut):
    gray = merge_rgb(small_astronaut[..., :1], small_astronaut)[..., 0].astype(int)
    pillow_gray = np.asarray(Image.fromarray(small_astronaut).convert("L")).astype(int)
    assert np.abs(gray - pillow_gray).max() <= 1
    primaries = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], dtype=np.uint8)
    assert merge_rgb(primaries[..., :1], primaries)[0, :, 0].tolist() == [76, 150, 29, 255]


def test_palette_images_become_rgb_or_rgba(small_astronaut):
    palette = Image.fromarray(small_astronaut).quantize(64)
    opaque = decode_image(pillow_bytes(np.asarray(palette.convert("RGB")), "PNG"))
    buffer = io.BytesIO()
    palette.save(buffer, "PNG")
    loaded = decode_image(buffer.getvalue())
    assert loaded.pixels.shape[2] == 3
    np.testing.assert_array_equal(loaded.pixels, opaque.pixels)

    buffer = io.BytesIO()
    palette.save(buffer, "PNG", transparency=0)
    transparent = decode_image(buffer.getvalue()).pixels
    assert transparent.shape[2] == 4
    index = np.asarray(palette)
    np.testing.assert_array_equal(transparent[..., 3] == 0, index == 0)


def test_cmyk_jpeg_and_bilevel_png_are_converted(small_astronaut):
    buffer = io.BytesIO()
    Image.fromarray(small_astronaut).convert("CMYK").save(buffer, "JPEG", quality=95)
    cmyk = decode_image(buffer.getvalue()).pixels
    assert cmyk.shape == small_astronaut.shape
    assert _psnr(cmyk, small_astronaut) > 25

    bilevel = Image.fromarray(small_astronaut).convert("1")
    buffer = io.BytesIO()
    bilevel.save(buffer, "PNG")
    loaded = decode_image(buffer.getvalue()).pixels
    assert loaded.shape == (*small_astronaut.shape[:2], 1)
    np.testing.assert_array_equal(loaded[..., 0], np.asarray(bilevel.convert("L")))


# ---------------------------------------------------------------- EXIF orientation

# What a viewer shows for stored pixels P under each EXIF orientation (EXIF 2.3, tag 0x0112).
UPRIGHT = {
    1: lambda p: p,
    2: lambda p: p[:, ::-1],
    3: lambda p: p[::-1, ::-1],
    4: lambda p: p[::-1, :],
    5: lambda p: p.transpose(1, 0, 2),
    6: lambda p: np.rot90(p, k=-1),
    7: lambda p: p[::-1, ::-1].transpose(1, 0, 2),
    8: lambda p: np.rot90(p, k=1),
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(small_astronaut, orientation):
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    data = pillow_bytes(small_astronaut, "JPEG", quality=98, subsampling=0, exif=exif)
    loaded = decode_image(data)
    expected = UPRIGHT[orientation](pillow_pixels(data))
    assert loaded.pixels.shape == expected.shape
    np.testing.assert_array_equal(loaded.pixels, expected)
    # And it really is the photo the right way up (not only self-consistent), up to JPEG loss.
    assert _psnr(loaded.pixels, UPRIGHT[orientation](small_astronaut)) > 35


def test_kept_exif_says_upright(small_astronaut):
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    loaded = decode_image(pillow_bytes(small_astronaut, "JPEG", exif=exif))
    for fmt in ("JPEG", "PNG", "WEBP"):
        out = encode_image(loaded.pixels, fmt, metadata=loaded.metadata, keep_metadata=True)
        with Image.open(io.BytesIO(out)) as image:
            assert image.getexif()[ORIENTATION] == 1
        # Re-loading must not rotate a second time.
        np.testing.assert_array_equal(decode_image(out).pixels.shape, loaded.pixels.shape)


# ---------------------------------------------------------------- metadata policy


def _gps_jpeg(pixels: np.ndarray) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "FaceveilTestCamera"  # Make
    gps = exif.get_ifd(GPS_IFD)
    gps[1], gps[2] = "N", (48.0, 51.0, 24.0)  # GPSLatitudeRef, GPSLatitude
    gps[3], gps[4] = "E", (2.0, 21.0, 3.0)
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="1" who="me"/></x:xmpmeta>'
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return pillow_bytes(pixels, "JPEG", exif=exif, xmp=xmp, icc_profile=icc)


def _written_metadata(data: bytes) -> tuple[Image.Exif, bytes | None, bytes | None]:
    with Image.open(io.BytesIO(data)) as image:
        return image.getexif(), image.info.get("icc_profile"), image.info.get("xmp")


def test_source_metadata_is_read(small_astronaut):
    metadata = decode_image(_gps_jpeg(small_astronaut)).metadata
    assert metadata.exif and metadata.icc_profile and b"who=" in metadata.xmp


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_metadata_is_stripped_by_default(small_astronaut, fmt):
    loaded = decode_image(_gps_jpeg(small_astronaut))
    out = encode_image(loaded.pixels, fmt, metadata=loaded.metadata)
    exif, icc, xmp = _written_metadata(out)
    assert GPS_IFD not in exif and 0x010F not in exif
    assert icc is None and xmp is None
    assert b"FaceveilTestCamera" not in out and b"who=" not in out


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_keep_metadata_keeps_gps_xmp_and_icc(small_astronaut, fmt):
    loaded = decode_image(_gps_jpeg(small_astronaut))
    out = encode_image(loaded.pixels, fmt, metadata=loaded.metadata, keep_metadata=True)
    exif, icc, xmp = _written_metadata(out)
    assert exif.get_ifd(GPS_IFD)[1] == "N"
    assert exif[0x010F] == "FaceveilTestCamera"
    assert icc == loaded.metadata.icc_profile
    assert b"who=" in xmp


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_keep_icc_keeps_only_the_colour_profile(small_astronaut, fmt):
    loaded = decode_image(_gps_jpeg(small_astronaut))
    out = encode_image(loaded.pixels, fmt, metadata=loaded.metadata, keep_icc=True)
    exif, icc, xmp = _written_metadata(out)
    assert icc == loaded.metadata.icc_profile
    assert GPS_IFD not in exif and xmp is None


def test_kept_xmp_orientation_is_reset():
    pixels = np.zeros((4, 6, 3), np.uint8)
    metadata = ImageMetadata(xmp=b'<rdf:Description tiff:Orientation="6"/><tiff:Orientation>8</tiff:Orientation>')
    out = encode_image(pixels, "JPEG", metadata=metadata, keep_metadata=True)
    _, _, xmp = _written_metadata(out)
    assert b'tiff:Orientation="1"' in xmp and b"<tiff:Orientation>1</tiff:Orientation>" in xmp


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "make",
    [
        lambda: cv2.imencode(".png", np.full((8, 8, 3), 1000, np.uint16))[1].tobytes(),  # 48-bit RGB
        lambda: cv2.imencode(".png", np.full((8, 8, 4), 1000, np.uint16))[1].tobytes(),  # 64-bit RGBA
        lambda: cv2.imencode(".png", np.full((8, 8), 1000, np.uint16))[1].tobytes(),  # 16-bit gray
        lambda: cv2.imencode(".tiff", np.full((8, 8, 3), 1000, np.uint16))[1].tobytes(),
        lambda: pillow_bytes(np.full((8, 8), 0.5, np.float32), "TIFF"),
    ],
    ids=["png48", "png64", "png16gray", "tiff48", "tiff_float"],
)
def test_high_bit_depth_is_refused_clearly(make):
    with pytest.raises(InputError, match="16-bit or floating-point.*8 bits per channel"):
        decode_image(make(), name="deep.img")


def _png_with_header_size(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height but whose data is tiny (a decompression bomb shape)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    idat = zlib.compress(b"\x00" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [12_000, 30_000])  # between 1x and 2x the limit, and far above it
def test_pixel_limit_is_checked_from_the_header(side):
    with pytest.raises(InputError, match=r"bomb.png: image .*above the limit of 100,000,000 pixels"):
        decode_image(_png_with_header_size(side, side), max_pixels=100_000_000, name="bomb.png")


def test_default_pixel_limit_refuses_the_audits_bomb_from_its_header():
    """Issue 12 #4: a tiny PNG declaring 196 Mpx (14,000 x 14,000) is refused before any decoding."""
    bomb = _png_with_header_size(14_000, 14_000)
    assert len(bomb) < 1000
    started = time.perf_counter()
    with pytest.raises(LimitExceededError, match=r"bomb.png: image.*above the limit of 120,000,000 pixels.*max_pixels") as raised:
        decode_image(bomb, name="bomb.png")
    assert time.perf_counter() - started < 0.5
    assert raised.value.exit_code == 13 and isinstance(raised.value, InputError)
    assert DEFAULT_MAX_PIXELS >= 108_000_000  # the largest common phone photos still decode


def test_pixel_limit_is_configurable():
    with pytest.raises(InputError, match="above the limit of 5,000"):
        decode_image(pillow_bytes(np.zeros((100, 100, 3), np.uint8), "PNG"), max_pixels=5_000)
    at_limit = decode_image(pillow_bytes(np.zeros((100, 100, 3), np.uint8), "PNG"), max_pixels=10_000)
    assert at_limit.pixels.shape == (100, 100, 3)


def test_pillow_bomb_guard_is_restored_after_decoding():
    before = Image.MAX_IMAGE_PIXELS
    decode_image(pillow_bytes(np.zeros((10, 10, 3), np.uint8), "PNG"), max_pixels=1_000)
    assert Image.MAX_IMAGE_PIXELS == before


def test_bad_files_raise_input_error_with_the_name(tmp_path, astronaut_rgb):
    png = pillow_bytes(astronaut_rgb, "PNG")
    cases = {
        "empty.png": (b"", "empty"),
        "truncated.png": (png[: len(png) // 2], "truncated|not a readable image"),
        "garbage.jpg": (np.random.default_rng(0).bytes(5000), "not a readable image"),
        "notes.png": (b"these are my notes, not a picture\n" * 10, "not a readable image"),
        "broken_jpeg.jpg": (pillow_bytes(astronaut_rgb, "JPEG")[:600], "not a readable image"),
    }
    for name, (data, reason) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(InputError, match=reason) as info:
            load_image(path)
        assert name in str(info.value)
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(InputError, match="directory"):
        load_image(tmp_path)


def test_animations_are_refused(small_astronaut):
    frames = [Image.fromarray(small_astronaut), Image.fromarray(255 - small_astronaut)]
    for fmt in ("GIF", "WEBP"):
        buffer = io.BytesIO()
        frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:], duration=100)
        with pytest.raises(InputError, match="animated.*2 frames.*video"):
            decode_image(buffer.getvalue(), name=f"clip.{fmt.lower()}")


def test_bad_pixel_arrays_and_formats_are_rejected():
    with pytest.raises(InputError, match="unsupported output format"):
        encode_image(np.zeros((4, 4, 3), np.uint8), "GIF")
    with pytest.raises(ValueError, match="uint8"):
        encode_image(np.zeros((4, 4, 3), np.float32), "PNG")


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("a.png", "PNG"),
        ("b.JPG", "JPEG"),
        ("c.jpeg", "JPEG"),
        ("d.webp", "WEBP"),
        ("e.tif", "TIFF"),
        ("f.TIFF", "TIFF"),
        ("g.bmp", "BMP"),
        ("h.ppm", "PPM"),
        ("i.PGM", "PPM"),
        ("j.pnm", "PPM"),
    ],
)
def test_format_for_path(name, fmt):
    assert format_for_path(Path("/x") / name) == fmt


def test_format_for_path_rejects_unknown_extensions():
    for name in ("movie.mp4", "noext", "anim.gif", "bits.pbm"):
        with pytest.raises(InputError, match="unsupported image extension"):
            format_for_path(name)


def test_mpo_photo_loads_its_primary_frame(small_astronaut):
    buffer = io.BytesIO()
    second_frame = Image.fromarray(255 - small_astronaut)
    Image.fromarray(small_astronaut).save(buffer, "MPO", save_all=True, append_images=[second_frame])
    loaded = decode_image(buffer.getvalue())
    assert loaded.format == "JPEG"
    assert _psnr(loaded.pixels, small_astronaut) > 30  # Pillow's default quality 75, 4:2:0
    assert _psnr(loaded.pixels, 255 - small_astronaut) < 10


def test_other_pillow_formats_are_not_decoded(small_astronaut):
    with pytest.raises(InputError, match="photo.tga: .*not a PNG/JPEG/WEBP/TIFF/BMP/PPM image"):
        decode_image(pillow_bytes(small_astronaut, "TGA"), name="photo.tga")  # Netpbm is read since issue 25


@pytest.mark.parametrize("fmt", ["TIFF", "BMP"])
def test_tiff_and_bmp_never_carry_gps_even_when_keeping_metadata(small_astronaut, fmt):
    loaded = decode_image(_gps_jpeg(small_astronaut))
    out = encode_image(loaded.pixels, fmt, metadata=loaded.metadata, keep_metadata=True)
    exif, icc, xmp = _written_metadata(out)
    assert GPS_IFD not in exif and b"FaceveilTestCamera" not in out and xmp is None
    assert (icc == loaded.metadata.icc_profile) if fmt == "TIFF" else icc is None


def test_truncated_files_fail_even_if_another_library_relaxed_pillow(monkeypatch, astronaut_rgb):
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    png = pillow_bytes(astronaut_rgb, "PNG")
    with pytest.raises(InputError, match="cut.png"):
        decode_image(png[: len(png) * 3 // 4], name="cut.png")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


def test_icc_profile_is_kept_only_where_it_matches_the_stored_colours(small_astronaut):
    rgb_icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    metadata = ImageMetadata(icc_profile=rgb_icc)
    gray = merge_rgb(small_astronaut[..., :1], small_astronaut)
    assert _written_metadata(encode_image(small_astronaut, "PNG", metadata=metadata, keep_icc=True))[1] == rgb_icc
    # An RGB profile on gray pixels would be wrong; WebP widens gray to RGB, so there it fits.
    assert _written_metadata(encode_image(gray, "PNG", metadata=metadata, keep_icc=True))[1] is None
    assert _written_metadata(encode_image(gray, "WEBP", metadata=metadata, keep_icc=True))[1] == rgb_icc


def test_unparseable_exif_is_dropped_even_when_keeping_metadata():
    metadata = ImageMetadata(exif=b"Exif\x00\x00" + bytes(range(40)), xmp=b"<x/>")
    out = encode_image(np.zeros((4, 6, 3), np.uint8), "JPEG", metadata=metadata, keep_metadata=True)
    exif, _, xmp = _written_metadata(out)
    assert len(exif) == 0 and xmp == b"<x/>"


def _exif_with_thumbnail(make: bytes, thumbnail: bytes) -> bytes:
    """Big-endian EXIF: IFD0 holding Make, linked to IFD1 holding a JPEG thumbnail (as cameras write)."""
    ifd0 = struct.pack(">H", 1) + struct.pack(">HHI4s", 0x010F, 2, 4, make)
    ifd1_offset = 8 + len(ifd0) + 4
    thumbnail_offset = ifd1_offset + 2 + 2 * 12 + 4
    ifd1 = (
        struct.pack(">H", 2)
        + struct.pack(">HHII", 0x0201, 4, 1, thumbnail_offset)  # JPEGInterchangeFormat
        + struct.pack(">HHII", 0x0202, 4, 1, len(thumbnail))  # JPEGInterchangeFormatLength
        + struct.pack(">I", 0)
    )
    return b"Exif\x00\x00MM\x00*" + struct.pack(">I", 8) + ifd0 + struct.pack(">I", ifd1_offset) + ifd1 + thumbnail


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_kept_exif_never_carries_the_original_thumbnail(small_astronaut, fmt):
    # The thumbnail shows the un-anonymized face, so even keep_metadata must not copy it.
    thumbnail = pillow_bytes(small_astronaut[::4, ::4], "JPEG")
    source = pillow_bytes(small_astronaut, "JPEG", exif=_exif_with_thumbnail(b"Cam\x00", thumbnail))
    loaded = decode_image(source)
    assert thumbnail in loaded.metadata.exif
    out = encode_image(loaded.pixels, fmt, metadata=loaded.metadata, keep_metadata=True)
    exif, _, _ = _written_metadata(out)
    assert exif[0x010F] == "Cam"
    assert thumbnail[:500] not in out


def test_kept_xmp_loses_embedded_thumbnails(small_astronaut):
    import base64

    thumbnail = base64.b64encode(pillow_bytes(small_astronaut[::4, ::4], "JPEG"))
    xmp = (
        b'<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" who="me"><xmp:Thumbnails><rdf:Alt>'
        b"<rdf:li><xmpGImg:image>" + thumbnail + b"</xmpGImg:image></rdf:li></rdf:Alt></xmp:Thumbnails>"
        b"</rdf:Description>"
    )
    out = encode_image(small_astronaut, "JPEG", metadata=ImageMetadata(xmp=xmp), keep_metadata=True)
    _, _, written = _written_metadata(out)
    assert b'who="me"' in written and b"Thumbnails" not in written
    assert thumbnail[:100] not in out
