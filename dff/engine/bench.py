"""`dff bench`: where the time goes, per module, and per-frame vs DFF throughput."""
from __future__ import annotations

import statistics
import time

import torch

from ..ops import flow_warp
from .setup import model_from_config, num_classes_of, select_device


def time_fn(fn, reps: int, device: torch.device) -> float:
    """Median wall time of fn() in seconds after one warm-up call."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    fn()
    sync()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


@torch.no_grad()
def bench(cfg: dict, size: tuple[int, int], key_intervals: list[int], reps: int = 5,
          device: str = "auto", num_classes: int | None = None) -> dict:
    """Latency of each module on one frame of `size`, and the throughput they imply.

    key frame cost t_key = backbone + feature conv + head; non-key cost t_prop = flow + warp
    (with the scale field) + head. DFF at key interval k runs k/(t_key + (k-1) t_prop) frames/s,
    per-frame runs 1/t_key; r = t_prop / t_key is DFF's non-key/key cost ratio. For Accel the
    non-key frame adds the update branch and the fusion (which includes the head), so
    t_prop = flow + warp + update + fusion.
    """
    dev = select_device(device)
    n = num_classes if num_classes is not None else num_classes_of(cfg)
    model = model_from_config(cfg, n).to(dev).eval()
    frame = torch.rand(1, 3, *size, device=dev)
    key = torch.rand(1, 3, *size, device=dev)
    k = model.normalize(key)
    trunk = model.backbone(k)
    feat = model.feature_conv(trunk)
    flow, scale = model.flow_net(frame, key, feat.shape[-2:])

    def warp():
        w = flow_warp(feat, flow, padding_mode=model.padding_mode)
        return w if scale is None else w * scale

    ms = {
        "backbone": time_fn(lambda: model.backbone(k), reps, dev),
        "feature_conv": time_fn(lambda: model.feature_conv(trunk), reps, dev),
        "flow": time_fn(lambda: model.flow_net(frame, key, feat.shape[-2:]), reps, dev),
        "warp": time_fn(warp, reps, dev),
        "head": time_fn(lambda: model.logits(feat, size), reps, dev),
    }
    t_key = ms["backbone"] + ms["feature_conv"] + ms["head"]
    t_prop = ms["flow"] + ms["warp"] + ms["head"]
    if hasattr(model, "update"):
        upd = model.update_output(frame, feat.shape[-2:])
        ms["update"] = time_fn(lambda: model.update_output(frame, feat.shape[-2:]), reps, dev)
        ms["fusion"] = time_fn(lambda: model.upsample(model.fuse(feat, upd), size), reps, dev)
        t_prop = ms["flow"] + ms["warp"] + ms["update"] + ms["fusion"]
    per_frame_fps = 1.0 / t_key
    rows = []
    for kk in key_intervals:
        fps = kk / (t_key + (kk - 1) * t_prop)
        rows.append({"key_interval": kk, "fps": fps, "speedup": fps / per_frame_fps})
    return {
        "size": list(size), "device": str(dev), "threads": torch.get_num_threads(),
        "arch": cfg["model"]["arch"], "update_backbone": cfg["model"]["update_backbone"],
        "backbone": cfg["model"]["backbone"], "output_stride": cfg["model"]["output_stride"],
        "flow": cfg["model"]["flow"], "feature_grid": list(feat.shape[-2:]),
        "module_seconds": ms, "key_seconds": t_key, "propagate_seconds": t_prop,
        "r_nonkey_over_key": t_prop / t_key, "per_frame_fps": per_frame_fps, "dff": rows,
    }


def format_bench(res: dict) -> str:
    """Human-readable bench table."""
    name = "Accel" if res.get("arch") == "accel" else "DFF"
    update = f" + update {res['update_backbone']}" if name == "Accel" else ""
    lines = [f"{name}: {res['backbone']} s{res['output_stride']} + {res['flow']}{update} at "
             f"{res['size'][0]}x{res['size'][1]} on {res['device']} ({res['threads']} threads)",
             f"{'module':<14}{'ms':>10}"]
    lines += [f"{name:<14}{sec * 1e3:>10.1f}" for name, sec in res["module_seconds"].items()]
    lines.append(f"{'key frame':<14}{res['key_seconds'] * 1e3:>10.1f}")
    lines.append(f"{'non-key frame':<14}{res['propagate_seconds'] * 1e3:>10.1f}   "
                 f"r = {res['r_nonkey_over_key']:.4f}")
    lines.append(f"{'per-frame':<14}{res['per_frame_fps']:>10.3f} fps")
    lines += [f"{name + ' k=' + str(r['key_interval']):<14}{r['fps']:>10.3f} fps  {r['speedup']:.2f}x"
              for r in res["dff"]]
    return "\n".join(lines)
