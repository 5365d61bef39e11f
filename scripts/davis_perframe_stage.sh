#!/usr/bin/env bash
# A per-frame stage before propagation (docs/results.md (h), "A per-frame stage first"): the Lite0
# key network trained on single frames, then the propagation trained with the key path fixed
# (flow only), or with the backbone alone fixed. After scripts/davis_flow_pretrained.sh (it uses
# runs/flow_chairs/best.pt). About 30 minutes on 2 CPU cores. Run from the repository root.
set -euo pipefail
T=configs/davis/dff_lite0_s16_temporal.yaml
dff train $T --work-dir runs/davis_lite0_perframe train.objective=per_frame "train.lr_mult={backbone: 0.5}" \
  train.iters=600 train.val_every=300 train.save_every=300
STAGE2="model.load_from=runs/davis_lite0_perframe/best.pt model.load_modules=null train.iters=300 train.val_every=150 train.save_every=150 train.warmup_iters=20"
dff train $T --work-dir runs/davis_lite0_perframe_flow $STAGE2 "train.freeze=[backbone, feature_conv, head]"
dff train $T --work-dir runs/davis_lite0_perframe_heads $STAGE2 "train.freeze=[backbone]"
for run in davis_lite0_perframe_flow davis_lite0_perframe_heads; do
  dff eval --checkpoint runs/$run/best.pt --key-interval 5 --json runs/$run/eval_k5.json --overwrite
done
