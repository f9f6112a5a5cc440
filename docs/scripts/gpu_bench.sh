#!/usr/bin/env bash
# `retouch bench` at full size on a lent GPU (one call of the device tool); the JSON lands in $OUT.
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
timeout 540 python3 -m retouch bench --json "$OUT/bench_gpu.json" 2>&1 | tail -15
