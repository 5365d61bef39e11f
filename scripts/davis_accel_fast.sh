#!/usr/bin/env bash
# Accel at >= 2x on DAVIS-2016 mini with a ResNet-18 update branch. Stages, each from the last:
# the update branch fine-tuned on half-size frames (model.update_scale=0.5, a quarter of its
# cost); the fusion trained on DIS flow (4 ms) and then the update branch through it; FlowNetS-lite
# at half and at quarter size (model.flow_scale=0.25); the update branch at 0.4 size with
# FlowNetS-lite at 0.25. Needs scripts/davis_reference.sh and scripts/davis_accel.sh run first
# (the stage-1 update branch in $RUN/accel_r18_stage1). About 2 hours on 2 idle CPU cores.
# (The key-frame policy studies on these models: experiments/davis_policies.sh.)
set -euo pipefail
RUN=${RUN:-runs}
S1=configs/davis/accel_r18_stage1_update.yaml
S2=configs/davis/accel_r18_stage2_fusion.yaml
OUT=$RUN/table
SIZE=240x427
HALF="model.update_scale=0.5"
mkdir -p "$OUT"

R=configs/davis/recipes  # the stages of the published us04 row
dff train $R/accel_r18_us04_1_update_half.yaml --work-dir "$RUN/accel_r18_half_stage1" \
  model.load_from="$RUN/accel_r18_stage1/best.pt"
# DIS cannot be trained, so it is frozen with both branches; only the fusion conv learns.
dff train "$S2" --work-dir "$RUN/accel_r18_half_dis_stage2" $HALF model.flow=dis \
  "train.freeze=[backbone, feature_conv, head, update, flow_net]" \
  model.load_from="$RUN/accel_r18_half_stage1/best.pt"
dff eval "$S2" --checkpoint "$RUN/accel_r18_half_dis_stage2/best.pt" --key-interval 5 --policy fixed \
  --json "$OUT/accel_half_dis.json" $HALF model.flow=dis
dff bench "$S2" --size $SIZE --key-intervals 1,5 --json "$OUT/accel_half_dis.bench.json" $HALF model.flow=dis
# Stage 3: the update branch trained through the fusion on DIS-propagated frames (reference fixed).
dff train "$S2" --work-dir "$RUN/accel_r18_half_dis_stage3" $HALF model.flow=dis \
  "train.freeze=[backbone, feature_conv, head, flow_net]" train.lr=5.0e-4 \
  model.load_from="$RUN/accel_r18_half_dis_stage2/best.pt"
dff eval "$S2" --checkpoint "$RUN/accel_r18_half_dis_stage3/best.pt" --key-interval 5 --policy fixed \
  --json "$OUT/accel_half_dis_e2e.json" $HALF model.flow=dis

# The same half-size update branch with FlowNetS-lite (trained with the fusion, as in davis_accel.sh).
dff train "$S2" --work-dir "$RUN/accel_r18_half_stage2" $HALF model.load_from="$RUN/accel_r18_half_stage1/best.pt"
dff eval "$S2" --checkpoint "$RUN/accel_r18_half_stage2/best.pt" --key-interval 5 --policy fixed \
  --json "$OUT/accel_half.json" $HALF
dff bench "$S2" --size $SIZE --key-intervals 1,5 --json "$OUT/accel_half.bench.json" $HALF

# FlowNetS-lite on quarter-size frames (model.flow_scale=0.25, about a third of its cost at half
# size), fusion and flow trained as above from the half-size update branch.
FAST="$HALF model.flow_scale=0.25"
dff train "$S2" --work-dir "$RUN/accel_r18_half_fs025_stage2" $FAST model.load_from="$RUN/accel_r18_half_stage1/best.pt"
dff eval "$S2" --checkpoint "$RUN/accel_r18_half_fs025_stage2/best.pt" --key-interval 5 --policy fixed \
  --json "$OUT/accel_half_fs025.json" $FAST
dff bench "$S2" --size $SIZE --key-intervals 1,5 --reps 15 --json "$OUT/accel_us0.5_fs0.25.bench.json" $FAST
# The update branch on 0.4-size frames (its half-size stage-1 weights fine-tuned at that size),
# FlowNetS-lite at 0.25: the configuration that keeps >= 99% at >= 2x.
S04="model.update_scale=0.4 model.flow_scale=0.25"
dff train $R/accel_r18_us04_2_update_04.yaml --work-dir "$RUN/accel_r18_us04_stage1" \
  model.load_from="$RUN/accel_r18_half_stage1/best.pt"
dff train $R/accel_r18_us04_3_fusion.yaml --work-dir "$RUN/accel_r18_us04_fs025_stage2" \
  model.load_from="$RUN/accel_r18_us04_stage1/best.pt"
dff eval "$S2" --checkpoint "$RUN/accel_r18_us04_fs025_stage2/best.pt" --key-interval 5 --policy fixed \
  --json "$OUT/accel_us04_fs025.json" $S04
dff bench "$S2" --size $SIZE --key-intervals 1,5 --reps 15 --json "$OUT/accel_us0.4_fs0.25.bench.json" $S04
