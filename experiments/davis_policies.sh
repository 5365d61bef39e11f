#!/usr/bin/env bash
# Key-frame policy studies on the DAVIS-2016 mini models of scripts/davis_reference.sh,
# scripts/davis_accel.sh and scripts/davis_accel_fast.sh (run those first): the adaptive policy
# at the fixed policy's key rate, the best key placement in hindsight, every signal replayed on
# the pair tables at k = 3..6, and the probe policy against fixed. From the repository root;
# about 3 hours on 2 CPU cores. Findings: experiments/README.md; figures: experiments/notes/key_frame_policies.md.
set -euo pipefail
RUN=${RUN:-runs}
DFF=configs/davis/dff_r18_s16_temporal.yaml
S2=configs/davis/accel_r18_stage2_fusion.yaml
CK=$RUN/davis_r18_s16/best.pt
OUT=$RUN/table
SIZE=240x427
THR=0.2  # the adaptive threshold that gives the fixed policy's key rate on val (flow signal)
MNV3="model.update_backbone=mobilenet_v3_small model.update_output_stride=32 model.update_kernel=1"
FAST="model.update_scale=0.5 model.flow_scale=0.25"
S04="model.update_scale=0.4 model.flow_scale=0.25"
ACCEL_FAST=$RUN/accel_r18_half_fs025_stage2/best.pt
mkdir -p "$OUT"

# Adaptive (flow signal) at the fixed key rate, added to the `dff eval` results of
# scripts/davis_accel.sh as stream_adaptive, for the throughput rows of scripts/results_table.py.
python -m experiments.adaptive_sweep "$DFF" "$CK" --signal flow --thresholds $THR \
  --add-to-eval "$OUT/dff_flownets_lite.json" "$OUT/dff_adaptive.json"
python -m experiments.adaptive_sweep "$S2" "$RUN/accel_r18_stage2/best.pt" --signal flow --thresholds $THR \
  --add-to-eval "$OUT/accel.json" "$OUT/accel_adaptive.json"
python -m experiments.adaptive_sweep "$S2" "$RUN/accel_mnv3s_stage2/best.pt" --signal flow --thresholds $THR \
  --add-to-eval "$OUT/accel_mnv3s.json" "$OUT/accel_mnv3s_adaptive.json" $MNV3
python scripts/results_table.py \
  "per-frame ResNet-18 s16=$OUT/dff_flownets_lite.json:$OUT/dff_flownets_lite.bench.json:per_frame" \
  "DFF adaptive, rate 1/5 (stream)=$OUT/dff_adaptive.json:$OUT/dff_flownets_lite.bench.json:adaptive" \
  "Accel adaptive, rate 1/5 (stream)=$OUT/accel_adaptive.json:$OUT/accel.bench.json:adaptive" \
  "Accel MobileNetV3-small adaptive (stream)=$OUT/accel_mnv3s_adaptive.json:$OUT/accel_mnv3s.bench.json:adaptive" \
  | tee "$OUT/adaptive_table.md"

# DFF: the best key placement in hindsight at the fixed policy's key count (what any policy could
# win); the same up to 15 frames back with its tables kept, every signal replayed on them; the
# probe policy against fixed at k = 3..6 and its margins; the uncertainty signal streamed.
python -m experiments.key_placement_bound "$DFF" "$CK" --json "$OUT/bound_dff.json"
python -m experiments.key_placement_bound "$DFF" "$CK" --max-gap 16 --tables "$OUT/tables_dff_g16.pt"
python -m experiments.key_signal_study "$DFF" "$OUT/tables_dff_g16.pt" --json "$OUT/signals_dff.json"
python -m experiments.probe_policy "$DFF" "$CK" --json "$OUT/probe_dff.json"
python -m experiments.probe_policy "$DFF" "$CK" --key-intervals 5 --margins 0.2,0.3,0.5,0.8,1.0 \
  --json "$OUT/probe_dff_margins.json"
python -m experiments.probe_bench "$DFF" --size $SIZE --key-intervals 1,3,4,5,6 --reps 15 --json "$OUT/probe_dff.bench.json"
python -m experiments.adaptive_sweep "$DFF" "$CK" --signal uncertainty --match --steps 8 \
  --json "$OUT/sweep_dff_uncertainty.json"

# Accel (update R18 at 0.5, FlowNetS-lite at 0.25): the same studies, and its disagreement signal.
python -m experiments.key_placement_bound "$S2" "$ACCEL_FAST" --json "$OUT/bound_accel_fs025.json" $FAST
python -m experiments.key_placement_bound "$S2" "$ACCEL_FAST" --max-gap 16 --tables "$OUT/tables_accel_fs025_g16.pt" $FAST
python -m experiments.key_signal_study "$S2" "$OUT/tables_accel_fs025_g16.pt" --json "$OUT/signals_accel_fs025.json" $FAST
python -m experiments.probe_policy "$S2" "$ACCEL_FAST" --json "$OUT/probe_accel_fs025.json" $FAST
python -m experiments.probe_policy "$S2" "$ACCEL_FAST" --key-intervals 5 --margins 0.2,0.3,0.5,0.8,1.0 \
  --json "$OUT/probe_accel_margins.json" $FAST
python -m experiments.probe_bench "$S2" --size $SIZE --key-intervals 1,3,4,5,6 --reps 15 \
  --json "$OUT/probe_accel.bench.json" $FAST
python -m experiments.adaptive_sweep "$S2" "$ACCEL_FAST" --signal disagreement --match --steps 7 \
  --json "$OUT/sweep_accel_disagreement.json" $FAST
python -m experiments.adaptive_sweep "$S2" "$RUN/accel_r18_us04_fs025_stage2/best.pt" --signal uncertainty --match \
  --steps 8 --json "$OUT/sweep_accel_uncertainty.json" $S04
