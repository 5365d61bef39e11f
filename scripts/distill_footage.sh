#!/usr/bin/env bash
# Label-free adaptation (train.objective distill) of the DAVIS Lite0 model on unlabelled footage:
# the two shared videos and the DAVIS frames without their labels, linked (not copied) into
# runs/footage. Needs runs/davis_lite0_flow_temporal/best.pt (scripts/davis_flow_pretrained.sh).
# Agreement with the teacher at k=5 on the held-out last 40% of every video, for zero flow, DIS
# and FlowNetS-lite before and after; DAVIS val mIoU before and after (labels only score).
set -euo pipefail
SHARED=${SHARED:-../shared/data}
FOOT=runs/footage OUT=runs/results_distill BEFORE=runs/davis_lite0_flow_temporal/best.pt
mkdir -p "$FOOT" "$OUT"
ln -sfn "$(realpath "$SHARED/videos/driving-960x540.mp4")" "$FOOT/driving-960x540.mp4"
ln -sfn "$(realpath "$SHARED/videos/pedestrians-1280x720.avi")" "$FOOT/pedestrians-1280x720.avi"
for seq in "$SHARED"/davis2016-mini/JPEGImages/480p/*/; do ln -sfn "$(realpath "$seq")" "$FOOT/davis-$(basename "$seq")"; done
C=configs/distill/lite0_footage.yaml
dff train $C --work-dir runs/distill_footage
for flow in zero dis; do
  dff eval $C --checkpoint $BEFORE model.flow=$flow --against teacher --json "$OUT/agree_$flow.json"
done
dff eval $C --checkpoint $BEFORE --against teacher --json "$OUT/agree_before.json"
dff eval $C --checkpoint runs/distill_footage/best.pt --against teacher --json "$OUT/agree_after.json"
D=configs/davis/dff_lite0_s16_temporal.yaml
dff eval $D --checkpoint runs/distill_footage/best.pt --json "$OUT/davis_after.json"
# The same from the recipe400bb model (scripts/davis_perframe_stage.sh; experiments/notes/training_recipes.md, "Label-free
# adaptation of the recipe400bb model"): its own refinement and flow input scale, footage at short side 240
B=runs/lite0_temporal_recipe400bb/last.pt M="model.refine=guided model.flow_scale=0.3"
dff train $C --work-dir runs/distill_400bb model.load_from=$B $M
for flow in zero dis; do
  dff eval $C --checkpoint $B $M model.flow=$flow --against teacher --json "$OUT/agree400bb_$flow.json"
done
dff eval $C --checkpoint $B $M --against teacher --json "$OUT/agree400bb_before.json"
dff eval $C --checkpoint runs/distill_400bb/best.pt $M --against teacher --json "$OUT/agree400bb_after.json"
dff eval $D --checkpoint runs/distill_400bb/best.pt $M data.short_side=400 --json "$OUT/davis400bb_after.json"
