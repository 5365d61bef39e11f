#!/usr/bin/env bash
# dff bench of every pretrained key network (configs/pretrained/) at 512x1024 with DIS and with
# FlowNetS-lite flow: key vs non-key frame cost, r and the throughput at k = 5. Weights are random
# (the cost does not depend on them; bench needs no download): SegFormer-B0 is built from
# transformers' default (B0) config with Cityscapes' 19 labels. About 25 minutes on 2 CPU cores.
set -euo pipefail
OUT=${OUT:-runs/bench_pretrained}
REPS=${REPS:-3}
mkdir -p "$OUT"
python - "$OUT/segformer-b0" <<'PY'
import sys
from transformers import SegformerConfig, SegformerForSemanticSegmentation
from dff.models.pretrained import CITYSCAPES_NAMES
config = SegformerConfig(num_labels=19, id2label=dict(enumerate(CITYSCAPES_NAMES)),
                         label2id={n: i for i, n in enumerate(CITYSCAPES_NAMES)})
SegformerForSemanticSegmentation(config).save_pretrained(sys.argv[1])
PY
for cfg in configs/pretrained/*.yaml; do
  name=$(basename "$cfg" .yaml)
  extra=""
  [[ $name == segformer* ]] && extra="model.key_network=hf:$OUT/segformer-b0"
  for flow in dis flownets_lite; do
    dff bench "$cfg" --size 512x1024 --key-intervals 1,5 --reps "$REPS" --json "$OUT/${name}_$flow.json" \
      model.flow=$flow $extra
  done
done
python - "$OUT" <<'PY'
import json, sys
from pathlib import Path
print("| key network | flow | key frame ms | non-key ms | r | k=5 | k=5 streamed |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for p in sorted(Path(sys.argv[1]).glob("*_*.json")):
    r = json.loads(p.read_text()); k5 = next(row for row in r["dff"] if row["key_interval"] == 5)
    name, flow = p.stem.rsplit("_dis", 1)[0] if p.stem.endswith("_dis") else p.stem.rsplit("_flownets_lite", 1)[0], r["flow"]
    print(f"| {name} | {flow} | {r['key_seconds'] * 1e3:.0f} | {r['propagate_seconds'] * 1e3:.0f} | "
          f"{r['r_nonkey_over_key']:.3f} | {k5['speedup']:.2f}x | {k5['stream_speedup']:.2f}x |")
PY
