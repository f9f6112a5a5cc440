#!/usr/bin/env bash
# Issue 46: continue the CIFAR-10 prior (configs/gan_prior_cifar10_cpu3.yaml) in the background,
# one thread under SCHED_IDLE (nice alone does not yield to other sessions' processes: autogroup),
# so that it takes only what the session leaves idle. Each start
# appends the date, the CPU and the step it resumes from to RUN/sessions.log; img/s per step is in
# RUN/log.jsonl. Pause it around any timing you report (kill -STOP / -CONT on its pid, or stop it:
# `--resume` continues exactly from the last checkpoint).
# Use: bash docs/scripts/prior_background.sh [RUN]   (default /work/runs/cifar10-prior-3, outside the work tree)
set -euo pipefail
cd "$(dirname "$0")/../.."
run=${1:-/work/runs/cifar10-prior-3}
mkdir -p "$run"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)
flags=$(grep -m1 '^flags' /proc/cpuinfo)
isa=avx2; for f in avx512f avx512_bf16 amx_bf16; do [[ " $flags " == *" $f "* ]] && isa=$f; done
step=$(python3 -c "import json,sys; l=[json.loads(x) for x in open(sys.argv[1]) if x.strip()]; print(l[-1]['step'] if l else 0)" "$run/log.jsonl" 2>/dev/null || echo 0)
echo "$(date -u +%FT%TZ) start at step $step on $cpu ($isa), $(nproc) cores, 1 thread, SCHED_IDLE" >> "$run/sessions.log"
resume=(); [[ -f "$run/config.yaml" ]] && resume=(--resume)
OMP_NUM_THREADS=1 exec chrt --idle 0 nice -n 19 retouch train gan_prior --config configs/gan_prior_cifar10_cpu3.yaml --out "$run" "${resume[@]}" >> "$run/train.out" 2>&1
