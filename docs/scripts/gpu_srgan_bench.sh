#!/usr/bin/env bash
# The third call of the device tool on a lent H100: `retouch bench` at full size, then x4 SR phase 2
# again (configs/srgan_x4.yaml, now with pixel_weight 1) from the phase-1 SRResNet, sized from a
# short calibration run to end before the deadline. Data travel in .gpudata/ (100 BSDS500 train
# photos, the phase-1 weights). Results land in $OUT.
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
T0=$(date +%s)
now() { echo $(( $(date +%s) - T0 )); }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
timeout 270 python3 -m retouch bench --json "$OUT/bench_gpu.json" 2>&1 | tail -25
echo "bench done at $(now) s"
mkdir -p runs
sed -e 's#\.\./shared/data/#.gpudata/#g' -e 's#, \.gpudata/bsds500/test, \.gpudata/imagenet-samples##' \
    -e 's#init_from: runs/srresnet-x4#init_from: .gpudata/srresnet-x4#' configs/srgan_x4.yaml > runs/sr2.yaml
grep -n "root\|init_from\|pixel" runs/sr2.yaml
python3 -m retouch train srgan --config runs/sr2.yaml --steps 100 --out runs/cal-sr2 > runs/cal-sr2.out 2>&1
rate=$(tail -n 1 runs/cal-sr2/log.jsonl | python3 -c "import json,sys; print(json.load(sys.stdin)['img_per_s'])")
S2=$(python3 -c "print(max(100, int($rate * (520 - $(now)) / 16 / 100) * 100))"); echo "$(now) s: srgan $S2 steps at $rate img/s"
timeout $(( 555 - $(now) )) python3 -m retouch train srgan --config runs/sr2.yaml --steps "$S2" --out runs/srgan-x4 > runs/sr2.out 2>&1
echo "srgan exit $? at $(now) s"; tail -n 2 runs/srgan-x4/log.jsonl
last=$(ls runs/srgan-x4/samples | tail -n 1)
tar czf "$OUT/srgan-x4.tgz" runs/sr2.yaml runs/srgan-x4/{model.safetensors,config.yaml,log.jsonl} "runs/srgan-x4/samples/$last" runs/cal-sr2/log.jsonl
