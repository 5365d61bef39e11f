#!/usr/bin/env bash
# Flow pretraining on ground truth, then DAVIS (EfficientNet-Lite0, s16) from it: the figures of
# experiments/notes/training_recipes.md. About 75 minutes on 2 CPU cores. Run from the repository root.
set -euo pipefail
OUT=runs/results_flow && mkdir -p "$OUT"
dff make-synthetic --out data/chairs --motion chairs --train 240 --val 24 --frames 5 --height 240 --width 320
dff train configs/flow/flownets_lite_chairs.yaml --work-dir runs/flow_chairs
FLOW=configs/flow/flownets_lite_chairs.yaml
dff eval $FLOW --checkpoint runs/flow_chairs/best.pt --json "$OUT/epe_flownets_lite.json"
dff eval $FLOW model.flow=dis model.flow_scale=1.0 --json "$OUT/epe_dis.json"
dff eval $FLOW model.flow=zero --json "$OUT/epe_zero.json"
for split in temporal sequences; do
  dff train configs/davis/dff_lite0_s16_$split.yaml --work-dir runs/davis_lite0_flow_$split
done
T=configs/davis/dff_lite0_s16_temporal.yaml
for k in 5 10; do
  dff eval $T --checkpoint runs/davis_lite0_flow_temporal/best.pt --key-interval $k --json "$OUT/davis_k$k.json"
done
dff eval configs/davis/dff_lite0_s16_sequences.yaml --checkpoint runs/davis_lite0_flow_sequences/best.pt \
  --json "$OUT/davis_sequences_k5.json"
python scripts/flow_magnitude.py $T runs/flow_chairs/best.pt runs/davis_lite0_flow_temporal/best.pt
