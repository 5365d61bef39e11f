import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from dff.engine.train.objective import TrainForward, unused_parameters
from dff.models import build_model
from dff.models.refine import GuidedRefine, build_refine
from dff.models.segmenter import upsample


def edge_scenes(edges: torch.Tensor, h: int = 32, w: int = 96):
    """Frames dark left of column edges[i] and bright from it on, their labels, and class scores on
    the stride-16 grid that step at the cell nearest the edge (bilinearly upsampled, up to 8 px off)."""
    x = torch.arange(w).view(1, 1, 1, w)
    right = (x >= edges.view(-1, 1, 1, 1)).expand(len(edges), 1, h, w)
    frames = torch.where(right, 0.9, 0.1).expand(-1, 3, -1, -1)
    cells = (torch.arange(w // 16) * 16 + 7.5).view(1, 1, 1, -1)
    step = torch.where(cells >= edges.view(-1, 1, 1, 1), 2.0, -2.0).expand(-1, 1, h // 16, -1)
    return frames, right[:, 0].long(), torch.cat([-step, step], 1)


def boundary_error(scores: torch.Tensor, edges: torch.Tensor) -> float:
    """Mean distance in px from the first class-1 column of every row to the true edge."""
    first = (scores.argmax(1) == 1).int().argmax(2)
    return (first - edges.view(-1, 1)).abs().float().mean().item()


def test_an_untrained_refinement_is_bilinear_upsampling():
    refine = GuidedRefine(3).eval()
    scores = torch.randn(2, 3, 4, 5)
    assert torch.equal(refine(scores, torch.rand(2, 3, 64, 80), (64, 80)), upsample(scores, (64, 80)))


def test_a_trained_refinement_moves_boundaries_onto_the_frames_edges():
    torch.manual_seed(0)
    refine = GuidedRefine(2)
    opt = torch.optim.Adam(refine.parameters(), lr=1e-2)
    for _ in range(150):
        frames, labels, scores = edge_scenes(torch.randint(8, 88, (8,)))
        loss = F.cross_entropy(refine(scores, frames, (32, 96)), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    edges = torch.arange(20, 76, 3)
    frames, _, scores = edge_scenes(edges)
    with torch.no_grad():
        refined = refine.eval()(scores, frames, (32, 96))
    bilinear = boundary_error(upsample(scores, (32, 96)), edges)
    assert bilinear > 3.5  # the cells' boundary, half-way between cell centres
    assert boundary_error(refined, edges) < 1.0


def test_the_refinement_resizes_the_frame_to_the_output_size_and_passes_gradients():
    refine = GuidedRefine(3)
    nn.init.normal_(refine.out.weight, std=0.1)
    scores = torch.randn(2, 3, 4, 5, requires_grad=True)
    out = refine(scores, torch.rand(2, 3, 64, 80), (32, 40))
    assert out.shape == (2, 3, 32, 40)
    out.square().sum().backward()
    assert scores.grad.abs().sum() > 0 and all(p.grad.abs().sum() > 0 for p in refine.parameters())


def test_unknown_refine_lists_the_valid_names():
    assert build_refine(None, 3) is None
    with pytest.raises(ValueError, match="valid: guided"):
        build_refine("crf", 3)


def tiny(**kw):
    torch.manual_seed(0)
    return build_model(3, "resnet18", 16, feat_channels=16, flow_width=0.25, refine="guided", **kw).eval()


def test_a_refined_model_refines_key_and_propagated_frames_in_training_and_inference():
    model = tiny()
    nn.init.normal_(model.refine.out.weight, std=0.1)  # not the bilinear start
    clip = torch.rand(2, 3, 3, 64, 64)
    clip[0] = clip[0, :1]  # key offset 0: the window is copies of the key (as training windows are)
    key, cur = clip[:, 0], clip[:, -1]
    with torch.no_grad():
        state = model.key(key)
        assert torch.allclose(model.logits(state), model.refine(model.head(state.features), key, (64, 64)))
        prop = model.propagate(state, cur)
        assert torch.allclose(model.logits(prop), model.refine(model.head(prop.features), cur, (64, 64)))
        out = model(clip, torch.tensor([0, 2]))
        assert torch.allclose(out[:1], model.logits(state)[:1], atol=1e-5)
        assert torch.allclose(out[1:], model.logits(prop)[1:], atol=1e-5)


@pytest.mark.parametrize("arch", ["dff", "accel"])
def test_the_refinement_belongs_to_the_key_network_branch_and_trains_per_frame(arch):
    model = tiny(arch=arch, update_channels=8)
    assert model.branches["reference"] == ("backbone", "feature_conv", "head", "refine")
    assert build_model(3, "resnet18", 16).branches["reference"] == ("backbone", "feature_conv", "head")
    forward = TrainForward(model, "per_frame")
    assert not any(n.startswith("refine.") for n in unused_parameters(forward, (64, 64), 1))
