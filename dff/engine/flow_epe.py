"""End-point error of a flow network against a synthetic set's ground truth (train.objective flow)."""
from __future__ import annotations

import torch

from ..data.frames import to_float
from ..data.store import FrameStore


@torch.no_grad()
def evaluate_flow(flow_net, store: FrameStore, truth: list[dict[int, torch.Tensor]], device="cpu") -> dict:
    """EPE of flow_net on every consecutive pair (t, t - 1) of the split, at the stored size.

    truth: data.flow_pairs.read_ground_truth(store). epe: mean over valid (non-occluded) pixels;
    epe_all: over every pixel; true_magnitude / predicted_magnitude: mean flow lengths over valid
    pixels, in pixels (a net that predicts too little motion shows here).
    """
    flow_net.eval()
    sums = torch.zeros(4, dtype=torch.float64)  # epe valid, epe all, |true|, |predicted|
    valid_px = all_px = pairs = 0
    for c, clip in enumerate(store.clips):
        for t in range(clip.start + 1, clip.end):
            cur, key = (to_float(store.frames[c][i])[None].to(device) for i in (t, t - 1))
            flow = flow_net(cur, key, tuple(cur.shape[-2:]))[0][0].cpu().double()
            gt = truth[c][t].double()
            valid = gt[2] > 0
            epe = (flow - gt[:2]).norm(dim=0)
            sums += torch.stack([epe[valid].sum(), epe.sum(), gt[:2].norm(dim=0)[valid].sum(),
                                 flow.norm(dim=0)[valid].sum()])
            valid_px, all_px, pairs = valid_px + int(valid.sum()), all_px + epe.numel(), pairs + 1
    v = max(valid_px, 1)
    return {"epe": float(sums[0] / v), "epe_all": float(sums[1] / max(all_px, 1)),
            "true_magnitude": float(sums[2] / v), "predicted_magnitude": float(sums[3] / v), "pairs": pairs}


def format_flow(res: dict, name: str) -> str:
    """One line of an evaluate_flow result."""
    return (f"{name:<16} EPE {res['epe']:.3f} px (all pixels {res['epe_all']:.3f}), mean motion: true "
            f"{res['true_magnitude']:.2f} px, predicted {res['predicted_magnitude']:.2f} px ({res['pairs']} pairs)")
