#!/usr/bin/env bash
# A per-frame stage before propagation (docs/results.md (h), "A per-frame stage first"): the Lite0
# key network trained on single frames, then the propagation trained with the key path fixed, its
# flow at the full lr, at 0.1 x the lr (the scale field at the full lr), or fixed; or with only the
# backbone fixed. Evaluated at k = 5 and 10, with DIS swapped in, and at short side 320; then the
# sequence split the same way. After scripts/davis_flow_pretrained.sh (it uses
# runs/flow_chairs/best.pt). About 80 minutes on 2 CPU cores. Run from the repository root.
set -euo pipefail
OUT=runs/results_perframe && mkdir -p "$OUT"
SLOW="train.lr_mult={flow_net: 0.1, flow_net.scale: 1.0}"
KEY_FIXED="train.freeze=[backbone, feature_conv, head]"
stage2() {  # stage2 SPLIT RUN [overrides]: the propagation trained 300 iterations from SPLIT's per-frame stage
  local split=$1 run=$2 && shift 2
  dff train configs/davis/dff_lite0_s16_$split.yaml --work-dir runs/lite0_${split}_$run \
    model.load_from=runs/lite0_${split}_perframe/best.pt model.load_modules=null train.iters=300 \
    train.val_every=150 train.save_every=150 train.warmup_iters=20 "$@"
}
for split in temporal sequences; do
  dff train configs/davis/dff_lite0_s16_$split.yaml --work-dir runs/lite0_${split}_perframe train.objective=per_frame \
    "train.lr_mult={backbone: 0.5}" train.iters=600 train.val_every=300 train.save_every=300
  stage2 $split flowslow "$KEY_FIXED" "$SLOW"
  dff eval --checkpoint runs/lite0_${split}_flowslow/best.pt --key-interval 5 --json $OUT/${split}_flowslow_k5.json --overwrite
  dff eval --checkpoint runs/lite0_${split}_flowslow/best.pt --key-interval 5 data.short_side=320 \
    --json $OUT/${split}_flowslow_k5_320.json --overwrite
done
stage2 temporal flow "$KEY_FIXED"
stage2 temporal flowfixed "$KEY_FIXED" "train.lr_mult={flow_net: 0.0, flow_net.scale: 1.0}"
stage2 temporal headsslow "train.freeze=[backbone]" "$SLOW"
for run in flow flowfixed headsslow; do
  dff eval --checkpoint runs/lite0_temporal_$run/best.pt --key-interval 5 --json $OUT/temporal_${run}_k5.json --overwrite
done
for run in flowslow flowfixed; do
  dff eval --checkpoint runs/lite0_temporal_$run/best.pt --key-interval 10 --json $OUT/temporal_${run}_k10.json --overwrite
done
dff eval --checkpoint runs/lite0_temporal_flowslow/best.pt --key-interval 5 model.flow=dis \
  --json $OUT/temporal_flowslow_dis_k5.json --overwrite
