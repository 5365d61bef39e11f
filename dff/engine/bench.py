"""`dff bench`: where the time goes, per module, and per-frame vs DFF throughput."""
from __future__ import annotations

import statistics
import time

import torch

from ..config import merge
from ..inference.stream import runner_for
from ..models import layout
from ..models.segmenter import State, upsample
from .builders import model_from_config, num_classes_of, select_device
from .timing import synchronizer, time_in_turns


def stream_steps(model, frames: torch.Tensor, device: torch.device, policy=None) -> list[float]:
    """Wall time of each StreamRunner step over frames (T, 3, H, W), exactly as `dff infer`
    runs them: by default one key frame, then T - 1 propagated ones."""
    sync, times = synchronizer(device), []
    runner = runner_for(model, policy or len(frames))
    for f in frames:
        t = time.perf_counter()
        runner.step(f[None])
        sync()
        times.append(time.perf_counter() - t)
    return times


@torch.no_grad()
def bench(cfg: dict, size: tuple[int, int], key_intervals: list[int], reps: int = 5,
          device: str = "auto", num_classes: int | None = None) -> dict:
    """Latency of each module on one frame of `size`, and the throughput they imply.

    key frame cost t_key = backbone + feature conv + head; non-key cost t_prop = flow + warp
    (with the scale field) + head. DFF at key interval k runs k/(t_key + (k-1) t_prop) frames/s,
    per-frame runs 1/t_key; r = t_prop / t_key is DFF's non-key/key cost ratio. For Accel the
    non-key frame adds the update branch and the fusion (which includes the head), so
    t_prop = flow + warp + update + fusion. The same throughputs are also measured end to end,
    from the median time of a StreamRunner step on a key frame and on a propagated frame
    (stream_fps, relative to a key frame every frame). All timings are taken in turns (rep by
    rep), so the ratios come from the same moments.
    """
    dev = select_device(device)
    n = num_classes if num_classes is not None else num_classes_of(cfg)
    # random weights: the cost does not depend on them, and no download is needed
    model = model_from_config(merge(cfg, {"model": {"pretrained": None}}), n).to(dev).eval()
    layout.key_channels_last(model)  # as dff infer runs it (VideoSegmenter)
    frame = torch.rand(1, 3, *size, device=dev)
    key = torch.rand(1, 3, *size, device=dev)
    x = model.key_input(key)  # with key_flip, the mirror image too
    trunk = model.backbone(x)
    feat = model.key(key).features
    flow, scale = model.flow_net(frame, key, feat.shape[-2:])
    fns = {
        "backbone": lambda: model.backbone(x),
        "feature_conv": lambda: model.feature_conv(trunk),
        "flow": lambda: model.flow_net(frame, key, feat.shape[-2:]),
        "warp": lambda: model.warp(feat, flow, scale),
        "head": lambda: model.logits(State(key, feat), size),
    }
    if model.has_update_branch:
        upd = model.update_output(frame, feat.shape[-2:])
        fns["update"] = lambda: model.update_output(frame, feat.shape[-2:])
        fns["fusion"] = lambda: upsample(model.fuse(feat, upd), size)
    # End to end: the median StreamRunner step on key and on propagated frames (medians per
    # step, because the occasional stall of a shared machine would swamp a whole clip's time).
    # a key and up to 9 propagated steps: the medians need no more, and a huge k must not allocate k frames
    clip = torch.rand(min(max(2, *key_intervals), 10), 3, *size, device=dev)
    steps = []
    timed = time_in_turns({**fns, "stream": lambda: steps.append(stream_steps(model, clip, dev))}, reps, dev)
    steps = steps[1:]  # drop the warm-up
    t_key_step = statistics.median(s[0] for s in steps)
    t_prop_step = statistics.median(t for s in steps for t in s[1:])
    ms = {name: timed[name] for name in fns}
    t_key = ms["backbone"] + ms["feature_conv"] + ms["head"]
    t_prop = ms["flow"] + ms["warp"] + ms["head"]
    if model.has_update_branch:
        t_prop = ms["flow"] + ms["warp"] + ms["update"] + ms["fusion"]
    per_frame_fps = 1.0 / t_key
    rows = []
    for kk in key_intervals:
        fps = kk / (t_key + (kk - 1) * t_prop)
        stream_fps = kk / (t_key_step + (kk - 1) * t_prop_step)
        # Speedups as a ratio of clip times, so k=1 is exactly 1 (no 1/t * t rounding).
        rows.append({"key_interval": kk, "fps": fps,
                     "speedup": kk * t_key / (t_key + (kk - 1) * t_prop),
                     "stream_fps": stream_fps,
                     "stream_speedup": kk * t_key_step / (t_key_step + (kk - 1) * t_prop_step)})
    return {
        "size": list(size), "device": str(dev), "threads": torch.get_num_threads(),
        "arch": cfg["model"]["arch"], "update_backbone": cfg["model"]["update_backbone"],
        "backbone": cfg["model"]["backbone"], "output_stride": cfg["model"]["output_stride"],
        "feat_channels": cfg["model"]["feat_channels"],
        "key_network": cfg["model"]["key_network"],
        "flow": cfg["model"]["flow"], "feature_grid": list(feat.shape[-2:]),
        "module_seconds": ms, "key_seconds": t_key, "propagate_seconds": t_prop,
        "r_nonkey_over_key": t_prop / t_key, "per_frame_fps": per_frame_fps, "dff": rows,
        "stream_key_seconds": t_key_step, "stream_propagate_seconds": t_prop_step,
    }


def format_bench(res: dict) -> str:
    """Human-readable bench table."""
    name = "Accel" if res.get("arch") == "accel" else "DFF"
    update = f" + update {res['update_backbone']}" if name == "Accel" else ""
    key = res.get("key_network") or f"{res['backbone']} s{res['output_stride']}"
    lines = [f"{name}: {key} + {res['flow']}{update} at "
             f"{res['size'][0]}x{res['size'][1]} on {res['device']} ({res['threads']} threads)",
             f"{'module':<14}{'ms':>10}"]
    lines += [f"{name:<14}{sec * 1e3:>10.1f}" for name, sec in res["module_seconds"].items()]
    lines.append(f"{'key frame':<14}{res['key_seconds'] * 1e3:>10.1f}")
    lines.append(f"{'non-key frame':<14}{res['propagate_seconds'] * 1e3:>10.1f}   "
                 f"r = {res['r_nonkey_over_key']:.4f}")
    lines.append(f"{'per-frame':<14}{res['per_frame_fps']:>10.3f} fps")
    lines += [f"{name + ' k=' + str(r['key_interval']):<14}{r['fps']:>10.3f} fps  {r['speedup']:.2f}x"
              f"   streamed {r['stream_fps']:.3f} fps  {r['stream_speedup']:.2f}x" for r in res["dff"]]
    return "\n".join(lines)
