"""faceveil.io.video on tiny generated clips: decode, encode, timestamps, rotation, audio, errors."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from faceveil.errors import InputError
from faceveil.io.video import (
    EncodeOptions,
    TimeSpan,
    VideoWriter,
    from_display,
    iter_frames,
    probe_video,
    remux_with_attachments,
    to_display,
)
from faceveil.testing import write_synthetic_clip

SIZE = (96, 64)  # display (W, H): tiny, so the whole file runs in a few seconds


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """1 s, 25 fps H.264 + AAC MP4 with a moving face."""
    return write_synthetic_clip(tmp_path_factory.mktemp("v") / "clip.mp4", size=SIZE, face_height=40, seconds=1.0)


@pytest.fixture(scope="module")
def rotated_clip(tmp_path_factory):
    """Stored sideways with a 90-degree display matrix, as phones record portrait video."""
    return write_synthetic_clip(tmp_path_factory.mktemp("v") / "rot.mp4", size=SIZE, face_height=40, seconds=0.4, rotation=90)


def audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(audio=0) if p.size]


def copy_video(src, dst, options=EncodeOptions(), span=TimeSpan()) -> VideoWriter:
    info = probe_video(src)
    with VideoWriter(dst, info, options, span) as writer:
        for frame in iter_frames(src, span):
            writer.write(frame.rgb, frame.pts)
    return writer


def test_probe_reports_stream_parameters(clip):
    info = probe_video(clip.path)
    assert (info.width, info.height) == SIZE
    assert info.fps == Fraction(25)
    assert info.frame_count == 25
    assert info.rotation == 0
    assert [a.codec for a in info.audio] == ["aac"]
    assert info.duration_s == pytest.approx(1.0, abs=0.05)


def test_frames_are_rgb_in_order_with_increasing_timestamps(clip):
    frames = list(iter_frames(clip.path))
    assert len(frames) == clip.frames == 25
    assert all(f.rgb.shape == (SIZE[1], SIZE[0], 3) and f.rgb.dtype == np.uint8 for f in frames)
    assert [f.index for f in frames] == list(range(25))
    times = [f.time for f in frames]
    assert np.allclose(np.diff(times), 1 / 25)
    # the decoded content is the generated one (lossy, so compare loosely)
    assert np.abs(frames[0].rgb.astype(int) - 128).mean() > 10  # not a blank frame


def test_time_span_selects_frames(clip):
    frames = list(iter_frames(clip.path, TimeSpan(start=0.4, end=0.8)))
    assert [round(f.time, 2) for f in frames] == [0.4, 0.44, 0.48, 0.52, 0.56, 0.6, 0.64, 0.68, 0.72, 0.76]
    with pytest.raises(InputError):
        TimeSpan(start=0.5, end=0.2)
    with pytest.raises(InputError):
        TimeSpan(start=-1)


@pytest.mark.parametrize("suffix", [".mkv", ".mp4", ".mov", ".webm"])
def test_lossless_round_trip_is_exact(clip, tmp_path, suffix):
    out = tmp_path / f"out{suffix}"
    options = EncodeOptions(lossless=True)
    writer = copy_video(clip.path, out, options)
    assert writer.choice.lossless
    original = list(iter_frames(clip.path))
    back = list(iter_frames(out))
    assert len(back) == len(original)
    for a, b in zip(original, back):
        np.testing.assert_array_equal(a.rgb, b.rgb)


def test_lossy_mp4_keeps_timestamps_audio_and_count(clip, tmp_path):
    out = tmp_path / "out.mp4"
    copy_video(clip.path, out, EncodeOptions(crf=30))
    original, back = list(iter_frames(clip.path)), list(iter_frames(out))
    assert [f.time for f in back] == pytest.approx([f.time for f in original])
    assert probe_video(out).fps == Fraction(25)
    assert audio_packets(out) == audio_packets(clip.path) and len(audio_packets(out)) > 5
    # lossy, but close: CRF 30 on this texture stays within a few grey levels on average
    assert np.mean([np.abs(a.rgb.astype(int) - b.rgb.astype(int)).mean() for a, b in zip(original, back)]) < 12


@pytest.mark.parametrize(("suffix", "codec"), [(".mp4", "libx265"), (".mkv", "libvpx-vp9"), (".mov", "mpeg4")])
def test_other_codecs_can_be_chosen(clip, tmp_path, suffix, codec):
    out = tmp_path / f"c{suffix}"
    copy_video(clip.path, out, EncodeOptions(codec=codec, crf=30))
    info = probe_video(out)
    assert info.video_codec == {"libx265": "hevc", "libvpx-vp9": "vp9", "mpeg4": "mpeg4"}[codec]
    assert len(list(iter_frames(out))) == clip.frames


def test_mkv_keeps_frame_spacing_and_audio_packets(clip, tmp_path):
    out = tmp_path / "out.mkv"
    copy_video(clip.path, out)
    original, back = list(iter_frames(clip.path)), list(iter_frames(out))
    assert len(back) == len(original)
    # Matroska cannot start at a negative time, so the muxer shifts every stream by the AAC priming
    # delay; the spacing of frames (and A/V sync) is unchanged.
    shift = back[0].time - original[0].time
    assert 0 <= shift < 0.1
    assert [f.time - shift for f in back] == pytest.approx([f.time for f in original], abs=1e-3)
    assert audio_packets(out) == audio_packets(clip.path)


def test_variable_frame_rate_timestamps_survive(tmp_path):
    src = tmp_path / "vfr.mkv"
    pts_ms = [0, 40, 80, 200, 240, 500, 540]  # gaps, as in screen recordings or dropped frames
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)  # else PyAV rounds pts to 1/25 s
        for i, pts in enumerate(pts_ms):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, np.uint8), format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    assert [round(f.time * 1000) for f in iter_frames(src)] == pts_ms
    dst = tmp_path / "vfr_out.mp4"
    copy_video(src, dst, EncodeOptions(lossless=True))
    assert [round(f.time * 1000) for f in iter_frames(dst)] == pts_ms


def test_rotation_metadata_is_kept_and_display_orientation_is_upright(rotated_clip, tmp_path):
    info = probe_video(rotated_clip.path)
    assert info.rotation == 90
    assert (info.width, info.height) == (SIZE[1], SIZE[0])  # stored sideways
    assert info.display_size == SIZE
    first = next(iter(iter_frames(rotated_clip.path)))
    upright = to_display(first.rgb, info.rotation)
    assert upright.shape[:2] == (SIZE[1], SIZE[0])
    np.testing.assert_array_equal(from_display(upright, info.rotation), first.rgb)
    out = tmp_path / "rot_out.mkv"
    copy_video(rotated_clip.path, out)
    assert probe_video(out).rotation == 90


def test_time_span_output_starts_at_zero_with_trimmed_audio(clip, tmp_path):
    out = tmp_path / "span.mp4"
    copy_video(clip.path, out, span=TimeSpan(start=0.4, end=0.8))
    back = list(iter_frames(out))
    assert len(back) == 10
    assert back[0].time == pytest.approx(0.0, abs=1e-6)
    full, cut = audio_packets(clip.path), audio_packets(out)
    assert 0 < len(cut) < len(full)
    assert all(p in full for p in cut)  # copied, not re-encoded


def test_odd_sizes_encode_with_lossy_codec(tmp_path):
    src = write_synthetic_clip(tmp_path / "odd.mkv", size=(97, 63), face_height=30, seconds=0.2, codec="ffv1",
                               audio_codec=None)
    out = tmp_path / "odd_out.mp4"
    writer = copy_video(src.path, out)
    assert writer.choice.pix_fmt == "yuv444p"  # 4:2:0 needs even sides; nothing gets cropped
    assert probe_video(out).width == 97 and len(list(iter_frames(out))) == src.frames


def test_aac_into_webm_is_reencoded_to_opus_or_refused_clearly(clip, tmp_path):
    writer = copy_video(clip.path, tmp_path / "x.webm")
    assert writer.transcoded_audio == ["aac"]  # WebM only holds Opus/Vorbis
    info = probe_video(tmp_path / "x.webm")
    assert [a.codec for a in info.audio] == ["opus"]
    with av.open(str(tmp_path / "x.webm")) as c:
        seconds = sum(f.samples for f in c.decode(audio=0)) / 48000
    assert seconds == pytest.approx(1.0, abs=0.1)
    with pytest.raises(InputError, match="cannot be stored"):
        copy_video(clip.path, tmp_path / "y.webm", EncodeOptions(transcode_audio=False))
    assert not (tmp_path / "y.webm").exists()


def test_bad_options_and_outputs_are_input_errors(clip, tmp_path):
    with pytest.raises(InputError):
        EncodeOptions(crf=99)
    with pytest.raises(InputError, match="unsupported"):
        copy_video(clip.path, tmp_path / "x.gif")
    with pytest.raises(InputError, match="unknown video encoder"):
        copy_video(clip.path, tmp_path / "x.mp4", EncodeOptions(codec="nosuchcodec"))


def test_missing_garbage_and_audio_only_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        probe_video(tmp_path / "missing.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x01 not a video " * 200)
    with pytest.raises(InputError, match="not a readable video"):
        probe_video(garbage)
    audio_only = tmp_path / "audio.mka"
    with av.open(str(audio_only), "w", format="matroska") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    with pytest.raises(InputError, match="no video stream"):
        probe_video(audio_only)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_truncated_video_is_a_clear_error(tmp_path, suffix):
    clip = write_synthetic_clip(tmp_path / f"t{suffix}", size=SIZE, face_height=40, seconds=1.0)
    data = clip.path.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated|not a readable"):
        list(iter_frames(cut))


def test_garbled_middle_is_a_clear_error(tmp_path):
    clip = write_synthetic_clip(tmp_path / "g.mkv", size=SIZE, face_height=40, seconds=1.0)
    data = bytearray(clip.path.read_bytes())
    rng = np.random.default_rng(1)
    start = len(data) // 3
    data[start : start + 2000] = rng.integers(0, 256, 2000, dtype=np.uint8).tobytes()
    bad = tmp_path / "garbled.mkv"
    bad.write_bytes(bytes(data))
    with pytest.raises(InputError, match="truncated or corrupt"):
        list(iter_frames(bad))


@pytest.mark.parametrize(("suffix", "options"), [
    (".mkv", EncodeOptions()),  # lossy x264, the audit's case
    (".mp4", EncodeOptions()),
    (".mp4", EncodeOptions(lossless=True)),  # libx264rgb
    (".mkv", EncodeOptions(extra_options={"x264-params": "keyint=10"})),  # user x264 params are kept
])
def test_x264_output_declares_the_input_frame_rate(clip, tmp_path, suffix, options):
    """Issue 12 #10: x264 wrote the MP4 input's time base (1/12800) into the H.264 VUI as its frame
    rate; after the payload remux (which drops Matroska's default duration) readers saw 12,800 fps."""
    info = probe_video(clip.path)
    assert info.fps == 25 and info.time_base == Fraction(1, 12800)
    out = tmp_path / f"out{suffix}"
    writer = copy_video(clip.path, out, options)
    assert writer.choice.codec in ("libx264", "libx264rgb")
    candidates = [out]
    if suffix == ".mkv":
        remuxed = tmp_path / "remuxed.mkv"
        remux_with_attachments(out, remuxed, {"payload.bin": b"x"})
        candidates.append(remuxed)
    for path in candidates:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            next(container.decode(stream))
            assert stream.codec_context.framerate == 25  # what the bitstream declares
        assert probe_video(path).fps == 25
    # timestamps still pass through exactly (VFR timing lives in the container, not the VUI)
    original, copied = list(iter_frames(clip.path)), list(iter_frames(out))
    assert len(copied) == len(original)
    spacing = {round(float(b.time - a.time), 4) for a, b in zip(copied, copied[1:])}
    assert spacing == {0.04}


def test_lossless_mp4_is_standard_high_444_h264_that_a_plain_decoder_reads_exactly(clip, tmp_path):
    """`--lossless` to .mp4: H.264 High 4:4:4 Predictive, qp 0 (libx264rgb). Players built on FFmpeg's h264
    decoder (VLC, mpv, ffplay, Kodi, MPC-HC/LAV) play it; we check that decoder gives the frames back."""
    out = tmp_path / "out.mp4"
    writer = copy_video(clip.path, out, EncodeOptions(lossless=True))
    assert writer.choice.codec == "libx264rgb" and writer.choice.options["qp"] == "0"
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.profile == "High 4:4:4 Predictive"
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    original = [f.rgb for f in iter_frames(clip.path)]
    assert len(decoded) == len(original)
    assert all(np.array_equal(a, b) for a, b in zip(original, decoded))


def test_x264_in_yuv444p_at_qp0_is_not_exact_for_rgb(clip):
    """Why lossless MP4 uses libx264rgb: qp 0 in yuv444p is lossless for the YUV planes, but the RGB->YUV
    conversion before it rounds, so decoded RGB differs (and recovery would not be frame-exact)."""
    from fractions import Fraction as F

    rgb = next(iter_frames(clip.path)).rgb
    context = av.CodecContext.create("libx264", "w")
    context.width, context.height, context.pix_fmt, context.time_base = rgb.shape[1], rgb.shape[0], "yuv444p", F(1, 25)
    context.options = {"qp": "0", "preset": "ultrafast"}
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv444p")
    packets = [*context.encode(frame), *context.encode(None)]
    decoder = av.CodecContext.create("h264", "r")
    (back,) = [f for p in packets for f in decoder.decode(p)] + list(decoder.decode(None))
    assert back.format.name == "yuv444p"
    assert np.array_equal(back.to_ndarray(), frame.to_ndarray())  # the YUV planes are exact...
    assert not np.array_equal(back.to_ndarray(format="rgb24"), rgb)  # ...the RGB frame is not
