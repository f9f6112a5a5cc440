#!/usr/bin/env bash
# Issue 5's pix2pix-vs-PAN comparison on the mosaic task, same budget: both start from the shipped
# L1 U-Net (demosaic-l1) and fine-tune for 1,500 steps of 8 with configs/demosaic_gan.yaml, which
# differs between the runs only in model.loss: l1 (pix2pix: 100 L1 + LSGAN) or pan (PAN: the
# perceptual adversarial loss on the PatchGAN's hidden layers + LSGAN, no L1) or l1+pan. Then
# eval-region scores all of them inside a 128 px square on BSD100 at 8 px blocks, with a sheet.
# Usage: OMP_NUM_THREADS=2 bash docs/scripts/pan_vs_pix2pix.sh   (about 15 minutes on 2 cores)
set -euo pipefail
for loss in l1 pan l1+pan; do
  name=cmp-${loss/+/-}
  sed -e "s#^  init_from: .*#  init_from: retouch/weights/demosaic-l1.safetensors#" \
      -e "s#^  steps: 10000#  steps: 1500#" -e "s#^  decay_start: 0.5#  decay_start: 0.5#" \
      configs/demosaic_gan.yaml > "runs/$name.yaml"
  [ -e "runs/$name/model.safetensors" ] || retouch train pix2pix --config "runs/$name.yaml" --loss "$loss" --out "runs/$name"
done
retouch eval-region demosaic-l1 runs/cmp-l1 runs/cmp-pan runs/cmp-l1-pan --data ../shared/data/bsds500/val --blocks 8 \
    --json docs/results/pan-vs-pix2pix.json --sheet runs/pan-vs-pix2pix.png
# docs/img/pan-vs-pix2pix.jpg is that sheet saved as JPEG q88 (size)
