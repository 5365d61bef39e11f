#!/usr/bin/env bash
# raft_small for the DAVIS DFF model of scripts/davis_reference.sh: torchvision's RAFT-small from
# random weights (its pretrained ones are not downloadable here), trained through the frozen
# model's warp and head on the propagated loss, then evaluated at k=5 and benchmarked.
# About 12 minutes on 2 CPU cores.
set -euo pipefail
RUN=${RUN:-runs}
DFF=configs/davis/dff_r18_s16_temporal.yaml
OUT=$RUN/table
RAFT="model.flow=raft_small"
mkdir -p "$OUT"

dff train "$DFF" --work-dir "$RUN/dff_raft_small" $RAFT model.load_from="$RUN/davis_r18_s16/best.pt" \
  "train.freeze=[backbone, feature_conv, head]" train.iters=${ITERS:-150} train.lr=4.0e-4 train.clip_grad=1.0 \
  train.warmup_iters=10 train.val_every=100 train.save_every=100
dff eval "$DFF" --checkpoint "$RUN/dff_raft_small/best.pt" --key-interval 5 --json "$OUT/dff_raft_small_trained.json" $RAFT
dff bench "$DFF" --size 240x427 --key-intervals 1,5 --json "$OUT/dff_raft_small_trained.bench.json" $RAFT
