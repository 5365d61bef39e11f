"""`dff tradeoff`: every configuration (short side x key interval x flow) on the accuracy-throughput
plane, against the key network run on every frame at every size.

Accuracy follows the eval protocol (mean over key distances 0..k-1, so one evaluation at the
largest k gives every smaller k), scored at the largest size's labels: the labels, or with
`against="teacher"` the key network's own output at the largest size on every frame (agreement,
so it runs on unlabelled footage). Consistency (VC_8, VC_16, TC) comes from the val clips run as
videos. Throughput and latency come from StreamRunner steps on real frames at batch 1, as
`dff bench` streams them, every configuration timed in turns after a warm-up round.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from ..config import UNLEARNED_FLOWS, merge
from ..data.frames import to_float
from ..data.store import FrameStore
from ..models import layout
from .bench import stream_steps
from .timing import time_in_turns
from .builders import load_split, load_trained, num_classes_of
from .consistency import FlowWarps
from .evaluate import check_distances, evaluate, evaluate_consistency
from .metrics import class_map

FLOW_CHOICES = ("learned", "dis", "zero")  # learned: the model's own trained flow network
TIMED_FRAMES = 20  # frames of each timed clip, rounded up to whole key intervals


@dataclass
class TradeoffOptions:
    """What `dff tradeoff` measures.

    Args:
        sizes: short sides the frames are resized to.
        key_intervals: k values (1, per-frame, is always added).
        flows: of FLOW_CHOICES.
        against: "labels", or "teacher" (agreement with the key network at the largest size).
        max_frames: key positions scored per evaluation, evenly spaced (0: all).
        reps: timed rounds (after one warm-up round).
        device: where the models run.
    """

    sizes: list[int] = field(default_factory=lambda: [240, 320, 400])
    key_intervals: list[int] = field(default_factory=lambda: [1, 2, 3, 5, 10])
    flows: list[str] = field(default_factory=lambda: ["learned", "dis"])
    against: str = "labels"
    max_frames: int = 0
    reps: int = 3
    device: torch.device = torch.device("cpu")


@dataclass(frozen=True)
class Setting:
    """One point of the plane: flow None is the key network on every frame (k = 1)."""

    short_side: int
    key_interval: int
    flow: str | None

    @property
    def name(self) -> str:
        return f"{self.short_side} per-frame" if self.flow is None else f"{self.short_side} k={self.key_interval} {self.flow}"


def settings_of(opts: TradeoffOptions, flows: list[str]) -> list[Setting]:
    """Per-frame at every size, then every size x k > 1 x flow."""
    ks = sorted(set(opts.key_intervals) - {1})
    return [s for size in sorted(opts.sizes) for s in
            [Setting(size, 1, None)] + [Setting(size, k, f) for f in flows for k in ks]]


def flow_models(cfg: dict, checkpoint, ckpt: dict | None, flows: list[str], device) -> tuple[object, dict, list[str]]:
    """(the model as configured, which runs per-frame; {flow: model} for the flows it can run; a note
    for each it cannot). `learned` is the model's own flow network when it has one; dis and zero
    are swapped in (they need no training)."""
    own = cfg["model"]["flow"]
    base = load_trained(cfg, checkpoint, device, ckpt)[0]
    models, notes = {}, []
    for name in flows:
        if name == "learned" and own in UNLEARNED_FLOWS:
            notes.append(f"--flows learned: the model has no learned flow network (model.flow {own}); skipped")
        elif name in ("learned", own):
            models[name] = base
        else:
            models[name] = load_trained(merge(cfg, {"model": {"flow": name}}), checkpoint, device, ckpt)[0]
    for model in {id(m): m for m in (base, *models.values())}.values():
        layout.key_channels_last(model)  # as dff infer runs it
    return base, models, notes


def stores_of(cfg: dict, sizes: list[int]) -> dict[int, FrameStore]:
    """The val split at each short side, every store scored against the largest one's labels."""
    stores = {s: load_split(merge(cfg, {"data": {"short_side": s}}), "val") for s in sorted(sizes, reverse=True)}
    for store in stores.values():
        store.labels = stores[max(sizes)].labels
    return stores


@torch.no_grad()
def teacher_labels(model, store: FrameStore, device) -> list[dict[int, torch.Tensor]]:
    """The key network's own class map (uint8) on every frame of the store."""
    model.eval()
    return [{t: class_map(model.logits(model.key(to_float(frames[t])[None].to(device)))[0], 0).to(torch.uint8).cpu()
             for t in range(clip.start, clip.end)} for clip, frames in zip(store.clips, store.frames)]


def frame_size(store: FrameStore) -> list[int]:
    """(H, W) of the store's frames."""
    return list(next(iter(store.frames[0].values())).shape[-2:])


def timed_clip(store: FrameStore, k: int) -> torch.Tensor:
    """Real consecutive frames (T, 3, H, W) of the first clip, T whole key intervals of at least
    TIMED_FRAMES (wrapping around in a short clip)."""
    clip, frames = store.clips[0], store.frames[0]
    n = k * -(-TIMED_FRAMES // k)
    return torch.stack([to_float(frames[clip.start + i % (clip.end - clip.start)]) for i in range(n)])


def latencies(rounds: list[list[float]], k: int) -> dict:
    """frames/s (median over rounds) and latency per frame in ms: mean (median over rounds), key
    and non-key frames (medians over all steps) and the maximum step of all rounds."""
    keys = [t for ts in rounds for i, t in enumerate(ts) if i % k == 0]
    others = [t for ts in rounds for i, t in enumerate(ts) if i % k]
    return {"fps": statistics.median(len(ts) / sum(ts) for ts in rounds),
            "latency_mean_ms": 1e3 * statistics.median(sum(ts) / len(ts) for ts in rounds),
            "latency_key_ms": 1e3 * statistics.median(keys),
            "latency_nonkey_ms": 1e3 * statistics.median(others) if others else None,
            "latency_max_ms": 1e3 * max(t for ts in rounds for t in ts)}


class Tradeoff:
    """One `dff tradeoff`: the models, the val split at every size, and what has been measured.

    Args:
        cfg: the run config (a checkpoint's own, changed only in how it runs).
        checkpoint, ckpt: the checkpoint path and its dict (None: a complete pretrained model).
        opts: what to measure.
    """

    def __init__(self, cfg: dict, checkpoint, ckpt: dict | None, opts: TradeoffOptions):
        self.cfg, self.opts = cfg, opts
        self.base, self.models, notes = flow_models(cfg, checkpoint, ckpt, opts.flows, opts.device)
        self.num_classes = int(ckpt["num_classes"]) if ckpt is not None else num_classes_of(cfg)
        self.ks = sorted(set(opts.key_intervals) | {1})
        self.stores = stores_of(cfg, opts.sizes)
        for store in self.stores.values():
            check_distances(store, max(self.ks))
        self.reference = self.stores[max(opts.sizes)]
        teacher = opts.against == "teacher" or not any(self.reference.labels)
        if teacher:
            if opts.against != "teacher":
                notes.append("the val split has no labels: scoring agreement with the key network at the largest size")
            labels = teacher_labels(self.base, self.reference, opts.device)
            for store in self.stores.values():
                store.labels = labels
        self.settings = settings_of(opts, list(self.models))
        self.result = {"metric": "agreement" if teacher else "miou", "label_size": frame_size(self.reference),
                       "notes": notes, "settings": len(self.settings), "rows": []}
        self.warps = FlowWarps()

    def model_of(self, setting: Setting):
        return self.base if setting.flow is None else self.models[setting.flow]

    def time(self) -> dict:
        """{setting: latencies}: every setting streamed once per round, in turns (timing.time_in_turns,
        whose warm-up round is dropped)."""
        clips = {s: timed_clip(self.stores[s.short_side], s.key_interval).to(self.opts.device) for s in self.settings}
        steps = {s: [] for s in self.settings}

        def streamed(s: Setting):
            return lambda: steps[s].append(stream_steps(self.model_of(s), clips[s], self.opts.device, s.key_interval))
        time_in_turns({s: streamed(s) for s in self.settings}, self.opts.reps, self.opts.device)
        return {s: latencies(rounds[1:], s.key_interval) for s, rounds in steps.items()}

    def measure(self, group: list[Setting]) -> dict:
        """{setting: accuracy and consistency} of settings of one size and flow: accuracy for every k
        from one evaluation at the largest (the mean over key distances 0..k-1)."""
        o, ignore, model = self.opts, self.cfg["data"]["ignore_index"], self.model_of(group[0])
        store = self.stores[group[0].short_side]
        res = evaluate(model, store, max(s.key_interval for s in group), self.num_classes, ignore, o.max_frames, o.device)
        out = {}
        for s in group:
            by_dist = res["miou_by_distance"][:s.key_interval]
            out[s] = {"accuracy": sum(by_dist) / s.key_interval, "accuracy_by_distance": by_dist,
                      **evaluate_consistency(model, store, s.key_interval, self.num_classes, ignore, o.device,
                                             self.warps, self.reference)}
        return out

    def run(self, on_row=None) -> dict:
        """Time every setting, then measure them size by size; on_row(result so far) after each
        group (what an interrupted run keeps)."""
        tqdm.write(f"timing {len(self.settings)} settings in turns: {self.opts.reps} rounds after a warm-up")
        timing = self.time()
        with tqdm(total=len(self.settings), desc="tradeoff", unit="setting") as bar:
            for size in sorted(self.opts.sizes):
                for flow in [None, *self.models]:
                    group = [s for s in self.settings if s.short_side == size and s.flow == flow]
                    for s, row in self.measure(group).items():
                        self.result["rows"].append({"name": s.name, "short_side": size,
                                                    "size": frame_size(self.stores[size]),
                                                    "key_interval": s.key_interval, "flow": s.flow, **row,
                                                    **timing[s]})
                        bar.update()
                    if on_row is not None:
                        on_row(self.result)
        return self.result
