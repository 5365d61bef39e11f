#!/usr/bin/env bash
# Reproduces the DAVIS figures in the README: train, evaluate, segment the two real videos and
# benchmark. Run from the repository root with ../shared/data present; takes about 40 minutes on
# 2 CPU cores. RUN (default runs/davis_r18_s16) receives every output.
set -euo pipefail
RUN=${RUN:-runs/davis_r18_s16}
CFG=configs/davis/dff_r18_s16_temporal.yaml
VIDEOS=../shared/data/videos
dff train "$CFG" --work-dir "$RUN"
dff eval "$CFG" --checkpoint "$RUN/best.pt" --key-interval 5 --json "$RUN/eval.json"
for v in driving-960x540.mp4 pedestrians-1280x720.avi; do
  dff infer "$CFG" --checkpoint "$RUN/best.pt" --input "$VIDEOS/$v" --output "$RUN/${v%.*}.mp4" --overwrite
done
dff bench configs/davis/dff_r50_s8_bench.yaml --size 512x1024 --key-intervals 1,5,10 --json "$RUN/bench_r50_s8_512x1024.json"
