#!/usr/bin/env bash
# Flow networks and Accel on DAVIS-2016 mini val (temporal split, short side 240): the DFF model
# with each flow network, chained propagation, Accel score fusion k=5 (update branch ResNet-18,
# and MobileNetV3-small), streamed under the fixed policy. Needs the DFF run of
# scripts/davis_reference.sh in $RUN/davis_r18_s16. About 50 minutes on 2 CPU cores.
# (The key-frame policy studies on these models: experiments/davis_policies.sh.)
set -euo pipefail
RUN=${RUN:-runs}
DFF=configs/davis/dff_r18_s16_temporal.yaml
S1=configs/davis/accel_r18_stage1_update.yaml
S2=configs/davis/accel_r18_stage2_fusion.yaml
CK=$RUN/davis_r18_s16/best.pt
OUT=$RUN/table
SIZE=240x427  # the eval frames' size (DAVIS 854x480 at short side 240)
mkdir -p "$OUT"

dff train "$S1" --work-dir "$RUN/accel_r18_stage1" model.load_from="$CK"
dff train "$S2" --work-dir "$RUN/accel_r18_stage2" model.load_from="$RUN/accel_r18_stage1/best.pt"
# the same two stages with a MobileNetV3-small update branch (stride 32, 1x1 feature conv)
MNV3="model.update_backbone=mobilenet_v3_small model.update_output_stride=32 model.update_kernel=1"
dff train "$S1" --work-dir "$RUN/accel_mnv3s_stage1" $MNV3 model.load_from="$CK"
dff train "$S2" --work-dir "$RUN/accel_mnv3s_stage2" $MNV3 model.load_from="$RUN/accel_mnv3s_stage1/best.pt"

dff eval "$DFF" --checkpoint "$CK" --key-interval 5 --policy fixed --json "$OUT/dff_flownets_lite.json"
dff bench "$DFF" --size $SIZE --key-intervals 1,5 --json "$OUT/dff_flownets_lite.bench.json"
# Only flows that need no training may replace a trained one (the checkpoint owns its config).
for flow in dis zero; do
  dff eval "$DFF" --checkpoint "$CK" --key-interval 5 --json "$OUT/dff_$flow.json" model.flow=$flow
  dff bench "$DFF" --size $SIZE --key-intervals 1,5 --json "$OUT/dff_$flow.bench.json" model.flow=$flow
done
dff eval "$DFF" --checkpoint "$CK" --key-interval 5 --json "$OUT/dff_chained.json" model.propagation=chained
dff eval "$S2" --checkpoint "$RUN/accel_r18_stage2/best.pt" --key-interval 5 --policy fixed --json "$OUT/accel.json"
dff bench "$S2" --size $SIZE --key-intervals 1,5 --json "$OUT/accel.bench.json"
dff eval "$S2" --checkpoint "$RUN/accel_mnv3s_stage2/best.pt" --key-interval 5 --policy fixed \
  --json "$OUT/accel_mnv3s.json" $MNV3
dff bench "$S2" --size $SIZE --key-intervals 1,5 --json "$OUT/accel_mnv3s.bench.json" $MNV3

python scripts/results_table.py \
  "per-frame ResNet-18 s16=$OUT/dff_flownets_lite.json:$OUT/dff_flownets_lite.bench.json:per_frame" \
  "DFF k=5, flownets_lite=$OUT/dff_flownets_lite.json:$OUT/dff_flownets_lite.bench.json:mean" \
  "DFF k=5, dis=$OUT/dff_dis.json:$OUT/dff_dis.bench.json:mean" \
  "DFF k=5, zero (copy)=$OUT/dff_zero.json:$OUT/dff_zero.bench.json:mean" \
  "DFF k=5, raft_small (untrained)=$OUT/dff_raft_small.json:$OUT/dff_raft_small.bench.json:mean" \
  "DFF k=5, flownets_lite, chained=$OUT/dff_chained.json:$OUT/dff_flownets_lite.bench.json:mean" \
  "DFF fixed k=5 (stream)=$OUT/dff_flownets_lite.json:$OUT/dff_flownets_lite.bench.json:fixed" \
  "Accel score fusion k=5, update R18=$OUT/accel.json:$OUT/accel.bench.json:mean" \
  "Accel fixed k=5 (stream)=$OUT/accel.json:$OUT/accel.bench.json:fixed" \
  "Accel score fusion k=5, update MobileNetV3-small=$OUT/accel_mnv3s.json:$OUT/accel_mnv3s.bench.json:mean" \
  "Accel MobileNetV3-small fixed k=5 (stream)=$OUT/accel_mnv3s.json:$OUT/accel_mnv3s.bench.json:fixed" \
  | tee "$OUT/table.md"
