#!/usr/bin/env bash
# Does propagation pay on DAVIS? `dff tradeoff` of the Lite0 recipe400bb model (docs/tradeoff.md) on
# both splits: short sides 240/320/400 x k 1,2,3,5,10 x learned and DIS flow. Trains what is missing
# first: flow pretraining (scripts/davis_perframe_stage.sh's start), then recipe400bb's per-frame
# stage and propagation stage on each split (about 12 minutes each as two gloo processes on 2 cores).
# Run from the repository root with ../shared/data beside it; writes runs/tradeoff_<split>/.
set -euo pipefail
dff2() { OMP_NUM_THREADS=1 python -m torch.distributed.run --standalone --nproc-per-node=2 -m dff "$@"; }
SLOW="train.lr_mult={flow_net: 0.1, flow_net.scale: 1.0}"
if [ ! -f runs/flow_chairs/best.pt ]; then
  [ -d data/chairs ] || dff make-synthetic --out data/chairs --motion chairs --train 240 --val 24 --frames 5 \
    --height 240 --width 320
  dff train configs/flow/flownets_lite_chairs.yaml --work-dir runs/flow_chairs
fi
for split in temporal sequences; do
  pf=runs/lite0_${split}_recipe400_pf bb=runs/lite0_${split}_recipe400bb
  [ -f $pf/best.pt ] || dff2 train configs/davis/dff_lite0_s16_$split.yaml --work-dir $pf train.objective=per_frame \
    "train.lr_mult={backbone: 0.5}" train.iters=880 train.val_every=880 train.save_every=880 data.jitter=0.3 \
    model.refine=guided train.batch_size=4 train.channels_last=true train.lr=2.0e-3 data.short_side=400 \
    "data.scale_range=[0.5, 1.25]"
  [ -f $bb/last.pt ] || dff2 train configs/davis/dff_lite0_s16_$split.yaml --work-dir $bb \
    model.load_from=$pf/best.pt model.load_modules=null train.iters=400 train.val_every=0 train.save_every=400 \
    train.warmup_iters=40 "train.freeze=[backbone]" model.refine=guided train.batch_size=4 \
    train.channels_last=true "$SLOW" data.short_side=400 model.flow_scale=0.3
  dff tradeoff --checkpoint $bb/last.pt --sizes 240,320,400 --key-intervals 1,2,3,5,10 --flows learned,dis \
    --out runs/tradeoff_$split --overwrite "$@"
done
