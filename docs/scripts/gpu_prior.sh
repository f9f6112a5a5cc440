#!/usr/bin/env bash
# The CIFAR-10 prior on a lent GPU, within one call of the device tool: the learning rates are
# constant, so the run is stopped by a time limit and its last checkpoint (every 250 steps) is the
# prior. Data: .gpudata/cifar10.zip (a copy of ../shared/data/cifar10.zip). Results land in $OUT.
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
mkdir -p runs
sed 's#\.\./shared/data/#.gpudata/#g' configs/gan_prior_cifar10.yaml > runs/prior.yaml
timeout "${BUDGET:-250}" python3 -m retouch train gan_prior --config runs/prior.yaml --out runs/cifar10-prior > runs/prior.out 2>&1
echo "exit $?"; tail -n 2 runs/cifar10-prior/log.jsonl
last=$(ls runs/cifar10-prior/samples | tail -n 1)
tar czf "$OUT/prior.tgz" runs/prior.yaml runs/prior.out runs/cifar10-prior/{model.safetensors,config.yaml,log.jsonl} "runs/cifar10-prior/samples/$last"
