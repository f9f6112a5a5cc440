#!/usr/bin/env bash
# Builds .gpudata/ (ignored by git; carried to the device tool with `carry: [".gpudata"]`) for each
# GPU script, within the 64 MiB a call may carry (tracked files included: move the shipped weights
# a script does not need out of retouch/weights/ for that call, and back after).
#   bash docs/scripts/gpu_data.sh h2z        -> docs/scripts/gpu_horse2zebra.sh
#   bash docs/scripts/gpu_data.sh sr-h2z     -> docs/scripts/gpu_sr_h2z.sh    (also needs runs/horse2zebra from the first)
#   bash docs/scripts/gpu_data.sh srgan      -> docs/scripts/gpu_srgan_bench.sh (also needs runs/srresnet-x4)
#   bash docs/scripts/gpu_data.sh prior      -> docs/scripts/gpu_prior.sh (move all shipped weights out for the call)
set -euo pipefail
D=../shared/data
rm -rf .gpudata && mkdir -p .gpudata
grep -qx '/.gpudata/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo '/.gpudata/' >> .git/info/exclude; }
bsds_first_100() { mkdir -p .gpudata/bsds500/train; ls "$D/bsds500/train" | sort | head -100 | xargs -I{} cp "$D/bsds500/train/{}" .gpudata/bsds500/train/; }
case "$1" in
  h2z) mkdir -p .gpudata/horse2zebra && cp -r "$D/horse2zebra/trainA" "$D/horse2zebra/trainB" .gpudata/horse2zebra/ ;;
  sr-h2z)
    python3 -c "
from pathlib import Path; from PIL import Image
for side in ('trainA', 'trainB'):
    out = Path('.gpudata/horse2zebra') / side; out.mkdir(parents=True, exist_ok=True)
    for p in sorted(Path('$D/horse2zebra', side).iterdir()):
        Image.open(p).convert('RGB').save(out / p.name, quality=70)"
    mkdir -p .gpudata/h2z-phase1 && cp runs/horse2zebra/model.safetensors .gpudata/h2z-phase1/
    bsds_first_100 ;;
  srgan) mkdir -p .gpudata/srresnet-x4 && cp runs/srresnet-x4/model.safetensors .gpudata/srresnet-x4/; bsds_first_100 ;;
  prior) cp "$D/cifar10.zip" .gpudata/ ;;
  *) echo "usage: $0 h2z|sr-h2z|srgan|prior" >&2; exit 2 ;;
esac
du -sh .gpudata
