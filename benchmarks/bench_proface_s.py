"""PRO-Face S benchmark: quality on held-out real faces and speed at 256x256, in one run.

Quality (faceveil.methods.proface_s.evaluate): astronaut + grace_hopper, FFHQ-aligned 256 px crops
(CenterFace landmarks), pre-obfuscations blur / median / pixelate / mask; see that module for
each metric. Quality bar of issue 3: protected PSNR >= 30 dB, recovered PSNR >= 32 dB and SSIM >=
0.95, wrong-key and one-bit-different-key recovery PSNR <= 15 dB.

Speed: images/s for forward (protect) and reverse (recover) at batch 1 and 8, on CPU and (when
present) CUDA, for
- ``paper-eager-fp32``: the paper's formulation as released: eager fp32, NCHW, under no_grad;
- ``faceveil-fp32``: inference_mode (what the method runs);
- ``faceveil-fp32-cl``: inference_mode + channels_last memory format;
- ``faceveil-bf16``: inference_mode + channels_last under bf16 autocast (CPU with AVX512-BF16 / CUDA), reported with its
  recovery PSNR drop against fp32 so the trade-off is visible. fp16 autocast on CUDA likewise.

Prints markdown tables; the quality bar is judged on the covers the weights were trained on (the
method refuses the others), and every cover is reported.

Usage: python benchmarks/bench_proface_s.py [--weights PATH] [--threads 1] [--json out.json]
        [--skip-quality] [--skip-speed] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from faceveil.methods.proface_s.checkpoint import load_proface_s, trained_obfuscations
from faceveil.methods.proface_s.evaluate import aligned_eval_faces, evaluate, summarize
from faceveil.methods.proface_s.method import resolve_weights

SIZE = 256


def _inputs(batch: int, device: torch.device, channels_last: bool):
    gen = torch.Generator().manual_seed(0)
    images = [torch.rand(batch, 3, SIZE, SIZE, generator=gen) * 2 - 1 for _ in range(2)]
    key = torch.randint(0, 2, (batch, 1, SIZE, SIZE), generator=gen).float() * 2 - 1
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return [t.to(device).contiguous(memory_format=fmt) for t in (*images, key)]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _variants(device: torch.device) -> list[tuple[str, bool, torch.dtype | None, type]]:
    """(name, channels_last, autocast dtype, grad mode)."""
    variants = [
        ("paper-eager-fp32", False, None, torch.no_grad),
        ("faceveil-fp32", False, None, torch.inference_mode),
        ("faceveil-fp32-cl", True, None, torch.inference_mode),
        ("faceveil-bf16", True, torch.bfloat16, torch.inference_mode),
    ]
    if device.type == "cuda":
        variants.append(("faceveil-fp16", True, torch.float16, torch.inference_mode))
    return variants


def speed(weights: Path, device: torch.device, repeats: int) -> list[dict]:
    """images/s per (variant, batch, direction). Variants are timed round-robin, best of
    ``repeats``, so a shared machine's changing load hits them alike."""
    cases = {}
    for name, channels_last, amp_dtype, grad_mode in _variants(device):
        net = load_proface_s(weights, device)
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
        for batch in (1, 8):
            original, obfuscated, key = _inputs(batch, device, channels_last)

            def run(direction, net=net, o=original, b=obfuscated, k=key, amp_dtype=amp_dtype, grad_mode=grad_mode):
                amp = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext()
                with grad_mode(), amp:
                    if direction == "forward":
                        return net.protect(o, b, k)
                    return net.recover(b, k)

            cases[(name, batch)] = (run, amp_dtype, original, obfuscated, key)
    best = {(case, d): float("inf") for case in cases for d in ("forward", "reverse")}
    for (case, direction) in best:  # warm-up
        cases[case][0](direction)
    for _ in range(repeats):
        for (case, direction) in best:
            _sync(device)
            start = time.perf_counter()
            cases[case][0](direction)
            _sync(device)
            best[(case, direction)] = min(best[(case, direction)], time.perf_counter() - start)
    rows = []
    reference = load_proface_s(weights, device)
    for (name, batch), (run, amp_dtype, original, obfuscated, key) in cases.items():
        row = {"device": str(device), "variant": name, "batch": batch,
               "forward_img_per_s": round(batch / best[((name, batch), "forward")], 3),
               "reverse_img_per_s": round(batch / best[((name, batch), "reverse")], 3)}
        if amp_dtype is not None:  # accuracy cost of reduced precision: recovery vs fp32 recovery
            with torch.inference_mode():
                fp32 = reference.recover(obfuscated.contiguous(), key.contiguous())
            mse = torch.mean((run("reverse").float() - fp32) ** 2).item() / 4  # [-1, 1] -> [0, 1] range
            row["recovery_psnr_vs_fp32"] = round(10 * np.log10(1 / max(mse, 1e-12)), 2)
        rows.append(row)
    return rows


QUALITY_COLUMNS = ("protected_psnr", "recovered_psnr", "recovered_ssim", "png_recovered_psnr", "noise_recovered_psnr",
                   "wrong_key_psnr", "one_bit_key_psnr", "one_pixel_map_psnr")  # fmt: skip
# issue 3's quality bar: (metric, comparison, threshold)
QUALITY_BAR = (("protected_psnr", ">=", 30.0), ("recovered_psnr", ">=", 32.0), ("recovered_ssim", ">=", 0.95),
               ("wrong_key_psnr", "<=", 15.0), ("one_bit_key_psnr", "<=", 15.0))  # fmt: skip


def _fmt(key: str, value: float) -> str:
    return f"{value:.3f}" if "ssim" in key else f"{value:.2f}"


def quality_table(rows: list[dict], trained: tuple[str, ...] | None) -> tuple[str, dict]:
    """Markdown table of every case, the means, and the bar verdict. The bar is judged on the covers
    the weights were trained on (all of them when the file does not say); the others are reported
    but the method refuses them (they leave the face visible)."""
    def is_trained(row):
        return trained is None or row["obfuscation"] in trained

    lines = ["| face | obfuscation | trained cover | " + " | ".join(QUALITY_COLUMNS) + " |",
             "| --- | --- | --- |" + " --- |" * len(QUALITY_COLUMNS)]
    for row in rows:
        cells = [row["face"], row["obfuscation"], "yes" if is_trained(row) else "no (refused)"]
        lines.append("| " + " | ".join(cells + [_fmt(k, row[k]) for k in QUALITY_COLUMNS]) + " |")
    judged = [r for r in rows if is_trained(r)] or rows
    means = {"mean, trained covers": summarize(judged)}
    if len(judged) < len(rows):
        means["mean, all covers"] = summarize(rows)
    for label, mean in means.items():
        lines.append(f"| **{label}** | | | " + " | ".join(f"**{_fmt(k, mean[k])}**" for k in QUALITY_COLUMNS) + " |")
    mean = means["mean, trained covers"]
    lines += ["", "| quality bar (issue 3), trained covers | measured mean | met? |", "| --- | --- | --- |"]
    for key, op, threshold in QUALITY_BAR:
        ok = mean[key] >= threshold if op == ">=" else mean[key] <= threshold
        lines.append(f"| {key} {op} {threshold:g} | {_fmt(key, mean[key])} | {'yes' if ok else '**no**'} |")
    return "\n".join(lines), mean


def speed_table(rows: list[dict]) -> str:
    lines = ["| device | variant | batch | forward img/s | reverse img/s | recovery PSNR vs fp32 |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        vs = r.get("recovery_psnr_vs_fp32")
        lines.append(f"| {r['device']} | {r['variant']} | {r['batch']} | {r['forward_img_per_s']:.2f} | "
                     f"{r['reverse_img_per_s']:.2f} | {'—' if vs is None else f'{vs:.1f} dB'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="weight file (default: shipped)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="write all results here")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    weights = resolve_weights(args.weights)
    report = {"weights": str(weights), "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
              "threads": args.threads}
    if not args.skip_quality:
        faces = aligned_eval_faces(SIZE)
        rows = evaluate(load_proface_s(weights), faces)
        trained = trained_obfuscations(weights)
        table, mean = quality_table(rows, trained)
        print(f"quality, {weights} (trained covers: {', '.join(trained) if trained else 'not recorded'})\n")
        print(table + "\n", flush=True)
        report["quality_rows"] = rows
        report["trained_obfuscations"] = list(trained) if trained else None
        report["quality_mean"] = mean
        report["quality_mean_all"] = summarize(rows)
    if not args.skip_speed:
        devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
        report["speed"] = [row for device in devices for row in speed(weights, device, args.repeats)]
        print(f"speed at {SIZE}x{SIZE}, {args.threads} CPU thread(s), best of {args.repeats}\n")
        print(speed_table(report["speed"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
