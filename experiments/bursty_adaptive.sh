#!/usr/bin/env bash
# Adaptive vs fixed key frames where motion varies within a video: dff's synthetic generator with
# stop-and-go motion (--motion bursty; 8 train / 6 val sequences of 40 frames, 96x128), the demo
# model (dff/configs/demo.yaml, 400 iterations), each signal at the fixed policy's key count, the
# oracle flow as the signal's ceiling, and the placement bound with the replayed signals.
# About 15 minutes on 2 CPU cores.
set -euo pipefail
RUN=${RUN:-runs}/bursty
CFG=dff/configs/demo.yaml
DATA="data.root=$RUN/data"
CK=$RUN/dff/best.pt
dff make-synthetic --out "$RUN/data" --train 8 --val 6 --frames 40 --motion bursty
dff train "$CFG" --work-dir "$RUN/dff" $DATA
dff eval "$CFG" --checkpoint "$CK" --key-interval 5 --json "$RUN/eval.json" $DATA
for signal in flow residual difference; do
  python -m experiments.adaptive_sweep "$CFG" "$CK" --signal $signal --match --steps 12 --json "$RUN/sweep_$signal.json" $DATA
done
python -m experiments.adaptive_sweep "$CFG" "$CK" --signal flow --match --steps 12 --json "$RUN/sweep_oracle.json" \
  $DATA model.flow=oracle
python -m experiments.key_placement_bound "$CFG" "$CK" --max-gap 16 --tables "$RUN/tables_g16.pt" $DATA
python -m experiments.key_signal_study "$CFG" "$RUN/tables_g16.pt" --json "$RUN/signals.json" $DATA
python -m experiments.probe_policy "$CFG" "$CK" --json "$RUN/probe.json" $DATA
