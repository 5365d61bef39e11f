#!/usr/bin/env bash
# Does propagation pay on DAVIS? `dff tradeoff` of the Lite0 recipe400bb model (docs/tradeoff.md) on
# both splits: short sides 240/320/400 x k 1,2,3,5,10 x learned and DIS flow. Trains what is missing
# first: flow pretraining (scripts/davis_perframe_stage.sh's start), then recipe400bb's two stages
# on each split (configs/davis/recipes/; about 12 minutes each as two gloo processes on 2 cores).
# Run from the repository root with ../shared/data beside it; writes runs/tradeoff_<split>/.
set -euo pipefail
dff2() { OMP_NUM_THREADS=1 python -m torch.distributed.run --standalone --nproc-per-node=2 -m dff "$@"; }
if [ ! -f runs/flow_chairs/best.pt ]; then
  [ -d data/chairs ] || dff make-synthetic --out data/chairs --motion chairs --train 240 --val 24 --frames 5 \
    --height 240 --width 320
  dff train configs/flow/flownets_lite_chairs.yaml --work-dir runs/flow_chairs
fi
for split in temporal sequences; do
  pf=runs/lite0_${split}_recipe400_pf bb=runs/lite0_${split}_recipe400bb
  [ -f $pf/best.pt ] || dff2 train configs/davis/recipes/lite0_400bb_${split}_1_perframe.yaml --work-dir $pf
  [ -f $bb/last.pt ] || dff2 train configs/davis/recipes/lite0_400bb_${split}_2_propagate.yaml --work-dir $bb
  dff tradeoff --checkpoint $bb/last.pt --sizes 240,320,400 --key-intervals 1,2,3,5,10 --flows learned,dis \
    --out runs/tradeoff_$split --overwrite "$@"
done
