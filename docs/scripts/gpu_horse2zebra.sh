#!/usr/bin/env bash
# How the shipped horse2zebra model and its domain classifier were trained on a lent GPU (one call
# of the device tool, 10 minutes at most): the data travel in .gpudata/ (a copy of
# ../shared/data/horse2zebra/{trainA,trainB}), the configs are the committed ones with that path.
# The CycleGAN's step count is set from the speed measured in a short calibration run, so that the
# training (constant LR, then linear decay to zero) ends inside the budget. Results land in $OUT.
set -euo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
BUDGET=${BUDGET:-420}   # seconds of CycleGAN training
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
nproc
mkdir -p runs
sed 's#\.\./shared/data/#.gpudata/#g' configs/cyclegan_horse2zebra.yaml > runs/h2z.yaml
sed 's#\.\./shared/data/#.gpudata/#g' configs/classifier_horse2zebra.yaml > runs/domain.yaml
python3 -m retouch train cyclegan --config runs/h2z.yaml --steps 150 --out runs/calibrate 2>&1 | tail -2
rate=$(tail -1 runs/calibrate/log.jsonl | python3 -c "import json,sys; print(json.load(sys.stdin)['img_per_s'])")
steps=$(python3 -c "print(int($rate * $BUDGET / 4 / 100) * 100)")
echo "calibration: $rate img/s -> $steps steps of batch 4"
(python3 -m retouch train classifier --config runs/domain.yaml --out runs/h2z-domain > runs/domain.out 2>&1; echo "domain classifier exit $?") &
start=$(date +%s)
python3 -m retouch train cyclegan --config runs/h2z.yaml --steps "$steps" --out runs/horse2zebra 2>&1 | tail -3
echo "cyclegan: $(( $(date +%s) - start )) s wall for $steps steps"
wait
tail -2 runs/domain.out
last=$(ls runs/horse2zebra/samples | tail -1)
tar czf "$OUT/h2z.tgz" runs/h2z.yaml runs/horse2zebra/{model.safetensors,config.yaml,log.jsonl} "runs/horse2zebra/samples/$last" \
    runs/h2z-domain/{model.safetensors,config.yaml,log.jsonl} runs/calibrate/log.jsonl
tail -3 runs/horse2zebra/log.jsonl; tail -2 runs/h2z-domain/log.jsonl
