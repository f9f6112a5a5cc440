"""The SR table rows for docs/benchmarks.md: PSNR/SSIM on Y at x4 on Set5, Set14, BSD100 and
Kodak24, bicubic first, one row per model file (the SR protocol of `retouch eval-sr`).
Usage (from the project root, ../shared/data beside it):
    python docs/scripts/sr_table.py runs/srresnet-x4/model.safetensors runs/srgan-x4/model.safetensors [--json R.json]
"""

import argparse
import json
from pathlib import Path

from retouch.evaluate.sr import SETS, evaluate_sr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help="weights files or run folders (bicubic is always a row)")
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--json", type=Path, help="also write the full report here")
    args = ap.parse_args()
    report = evaluate_sr(args.models, list(SETS), args.data, device="auto", precision="fp32")
    results = report["results"]
    print(f"| x{report['scale']}, PSNR (dB) / SSIM on Y | " + " | ".join(f"{s} ({results[s]['images']})" for s in SETS) + " |")
    print("|---|" + "---:|" * len(SETS))
    for row in ["bicubic", *args.models]:
        print(f"| {row} | " + " | ".join(f"{results[s][row]['psnr_y']:.2f} / {results[s][row]['ssim_y']:.4f}" for s in SETS) + " |")
    print(f"\n| x{report['scale']}, detail ratio (edge energy / original's) | " + " | ".join(SETS) + " |")
    print("|---|" + "---:|" * len(SETS))
    for row in ["bicubic", *args.models]:
        print(f"| {row} | " + " | ".join(f"{results[s][row]['detail']:.2f}" for s in SETS) + " |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
