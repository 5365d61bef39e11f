#!/usr/bin/env bash
# A per-frame stage before propagation (experiments/notes/training_recipes.md, "A per-frame stage first"): the Lite0
# key network trained on single frames, then the propagation trained with the key path fixed.
# First the recipe within 30 CPU-minutes per model (per-frame stage with colour jitter, scales
# 0.5-1.75 and the scores refined by the frame, model.refine=guided; then the propagation without
# validation, the refinement trained with it), both splits: as two gloo processes of one thread
# with channels-last tensors (1.4x the iterations per CPU-second of one process: 720 per-frame and
# 200 propagation iterations; recipe2, and recipe3 / recipe4 with 2x / 4x the lr in the per-frame
# stage; recipe3long: recipe3's per-frame stage, the propagation 260 iterations with the flow
# slow on both splits), and as one process (540 and 130); the same without the refinement (600
# per-frame iterations, the propagation with the key path fixed); then the earlier variants (no jitter,
# scales 0.7-1.4; propagation 300 iterations with the flow at the full lr, at 0.1 x the lr, or
# fixed; or only the backbone fixed). After scripts/davis_flow_pretrained.sh (it uses
# runs/flow_chairs/best.pt). About 6 hours on 2 CPU cores. Run from the repository root.
set -euo pipefail
OUT=runs/results_perframe && mkdir -p "$OUT"
SLOW="train.lr_mult={flow_net: 0.1, flow_net.scale: 1.0}"
KEY_FIXED="train.freeze=[backbone, feature_conv, head]"
LAUNCH=dff  # what runs `train`: dff (one process), or dff2 (two gloo processes, batch 4 each)
dff2() { OMP_NUM_THREADS=1 python -m torch.distributed.run --standalone --nproc-per-node=2 -m dff "$@"; }
perframe() {  # perframe SPLIT RUN [overrides]: the key network alone, 600 iterations
  local split=$1 run=$2 && shift 2
  $LAUNCH train configs/davis/dff_lite0_s16_$split.yaml --work-dir runs/lite0_${split}_$run train.objective=per_frame \
    "train.lr_mult={backbone: 0.5}" train.iters=600 "$@"
}
stage2() {  # stage2 SPLIT FROM RUN ITERS [overrides]: the propagation trained from SPLIT's per-frame run FROM
  local split=$1 from=$2 run=$3 iters=$4 && shift 4
  $LAUNCH train configs/davis/dff_lite0_s16_$split.yaml --work-dir runs/lite0_${split}_$run \
    model.load_from=runs/lite0_${split}_$from/best.pt model.load_modules=null train.iters=$iters "$@"
}
recipe() {  # recipe SPLIT RUN PERFRAME_ITERS STAGE2_ITERS STAGE2_FREEZE [overrides of both stages]: within 30 CPU-minutes
  local split=$1 run=$2 iters=$3 iters2=$4 freeze=$5 && shift 5
  # PF_LR: the per-frame stage's lr (unset: the config's); PF_FROM: a run whose per-frame stage to
  # start from instead of training one
  local pf=${PF_FROM:-$run}
  [ -n "${PF_FROM:-}" ] || perframe $split ${run}_pf train.iters=$iters train.val_every=$iters \
    train.save_every=$iters data.jitter=0.3 "data.scale_range=[0.5, 1.75]" ${PF_LR:+train.lr=$PF_LR} "$@"
  # S2_FLOW (slow or full): the flow's lr in the propagation stage; unset: slow for the temporal
  # split, full for the sequence split, each the better in the variants below
  local s2flow=${S2_FLOW:-$([ $split = temporal ] && echo slow || echo full)}
  if [ $s2flow = slow ]; then flow=("$SLOW"); else flow=(); fi
  stage2 $split ${pf}_pf $run $iters2 train.val_every=0 train.save_every=$iters2 train.warmup_iters=$((iters2 / 10)) \
    "$freeze" "$@" \
    ${flow[@]+"${flow[@]}"}
  dff eval --checkpoint runs/lite0_${split}_$run/last.pt --key-interval 5 --json $OUT/${split}_${run}_k5.json --overwrite
}
for split in temporal sequences; do
  for run_lr in recipe2: recipe3:2.0e-3 recipe4:4.0e-3; do  # RUN:PER-FRAME LR (none: the config's)
    LAUNCH=dff2 PF_LR=${run_lr#*:} recipe $split ${run_lr%%:*} 720 200 "$KEY_FIXED" model.refine=guided \
      train.batch_size=4 train.channels_last=true
  done
  LAUNCH=dff2 PF_FROM=recipe3 S2_FLOW=slow recipe $split recipe3long 720 260 "$KEY_FIXED" model.refine=guided \
    train.batch_size=4 train.channels_last=true
  recipe $split recipe 540 130 "$KEY_FIXED" model.refine=guided  # one process
  recipe $split jitter 600 130 "$KEY_FIXED"  # the recipe before the refinement
done
# recipe400 (experiments/notes/training_recipes.md, "Cheaper training of the dilated stage"): the per-frame stage at
# short side 400 with 880 iterations (what the budget holds since dff/ops/depthwise.py), then the
# propagation at 400 with the flow network fed 0.3 of the size; temporal split only; evaluated as
# trained and with model.key_flip (and chained propagation)
LAUNCH=dff2
perframe temporal recipe400_pf train.iters=880 train.val_every=880 train.save_every=880 data.jitter=0.3 \
  model.refine=guided train.batch_size=4 train.channels_last=true train.lr=2.0e-3 data.short_side=400 \
  "data.scale_range=[0.5, 1.25]"
stage2 temporal recipe400_pf recipe400 200 train.val_every=0 train.save_every=200 train.warmup_iters=20 "$KEY_FIXED" \
  model.refine=guided train.batch_size=4 train.channels_last=true "$SLOW" data.short_side=400 model.flow_scale=0.3
dff eval --checkpoint runs/lite0_temporal_recipe400/last.pt --key-interval 5 --json $OUT/temporal_recipe400_k5.json \
  --overwrite
# the same model with test-time flip averaging at key frames, propagated directly and chained
# (both settable on the trained model; experiments/notes/training_recipes.md, "Test-time flip at the key frames")
for prop in direct chained; do
  for k in 5 10; do
    dff eval --checkpoint runs/lite0_temporal_recipe400/last.pt --key-interval $k model.key_flip=true \
      model.propagation=$prop --json $OUT/temporal_recipe400_flip_${prop}_k$k.json --overwrite
  done
done
# recipe400bb (experiments/notes/training_recipes.md, "Only the backbone fixed in the propagation stage"): recipe400's
# per-frame stage, then the propagation 400 iterations with only the backbone fixed (the feature
# conv, head and refinement train with the flow and the scale field); evaluated with the flip, chained
stage2 temporal recipe400_pf recipe400bb 400 train.val_every=0 train.save_every=400 train.warmup_iters=40 \
  "train.freeze=[backbone]" model.refine=guided train.batch_size=4 train.channels_last=true "$SLOW" \
  data.short_side=400 model.flow_scale=0.3
for k in 5 10; do
  dff eval --checkpoint runs/lite0_temporal_recipe400bb/last.pt --key-interval $k model.key_flip=true \
    model.propagation=chained --json $OUT/temporal_recipe400bb_flip_chained_k$k.json --overwrite
done
LAUNCH=dff
for run in recipe2 recipe3 recipe3long recipe4 recipe400 recipe400bb recipe jitter; do
  dff eval --checkpoint runs/lite0_temporal_$run/last.pt --key-interval 10 --json $OUT/temporal_${run}_k10.json \
    --overwrite
done
# the earlier variants
for split in temporal sequences; do
  perframe $split perframe train.val_every=300 train.save_every=300
  stage2 $split perframe flowslow 300 train.val_every=150 train.save_every=150 train.warmup_iters=20 "$KEY_FIXED" "$SLOW"
  dff eval --checkpoint runs/lite0_${split}_flowslow/best.pt --key-interval 5 --json $OUT/${split}_flowslow_k5.json --overwrite
  dff eval --checkpoint runs/lite0_${split}_flowslow/best.pt --key-interval 5 data.short_side=320 \
    --json $OUT/${split}_flowslow_k5_320.json --overwrite
done
V2="train.val_every=150 train.save_every=150 train.warmup_iters=20"
stage2 temporal perframe flow 300 $V2 "$KEY_FIXED"
stage2 temporal perframe flowfixed 300 $V2 "$KEY_FIXED" "train.lr_mult={flow_net: 0.0, flow_net.scale: 1.0}"
stage2 temporal perframe headsslow 300 $V2 "train.freeze=[backbone]" "$SLOW"
for run in flow flowfixed headsslow; do
  dff eval --checkpoint runs/lite0_temporal_$run/best.pt --key-interval 5 --json $OUT/temporal_${run}_k5.json --overwrite
done
for run in flowslow flowfixed; do
  dff eval --checkpoint runs/lite0_temporal_$run/best.pt --key-interval 10 --json $OUT/temporal_${run}_k10.json --overwrite
done
dff eval --checkpoint runs/lite0_temporal_flowslow/best.pt --key-interval 5 model.flow=dis \
  --json $OUT/temporal_flowslow_dis_k5.json --overwrite
