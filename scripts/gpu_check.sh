#!/usr/bin/env bash
# One prepared GPU check: training steps (fp32, bf16, fp16, channels_last, torch.compile),
# dff bench of ResNet-101 s8 at 1024x2048 and of a torchvision and a SegFormer adapter, dff infer on
# CUDA; one table, under 8 minutes on one GPU. --smoke: the same on the CPU at tiny sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python scripts/gpu_check.py "$@"
