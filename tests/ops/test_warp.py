import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dff.ops import flow_warp, normalize_coords, pixel_grid, resize_flow, sample_at

CV_BORDER = {"zeros": cv2.BORDER_CONSTANT, "border": cv2.BORDER_REPLICATE}


def ramp(h, w, c=1, dtype=torch.float32):
    return torch.arange(h * w * c, dtype=dtype).reshape(1, c, h, w)


def cv_warp(x: torch.Tensor, flow: torch.Tensor, padding: str) -> torch.Tensor:
    """Independent oracle: cv2.remap of every channel at p + flow[p]."""
    xs, ys = np.meshgrid(np.arange(x.shape[-1]), np.arange(x.shape[-2]))
    map_x = (xs + flow[0, 0].numpy()).astype(np.float32)
    map_y = (ys + flow[0, 1].numpy()).astype(np.float32)
    chans = [
        cv2.remap(ch.numpy(), map_x, map_y, cv2.INTER_LINEAR, borderMode=CV_BORDER[padding], borderValue=0)
        for ch in x[0]
    ]
    return torch.from_numpy(np.stack(chans))[None]


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(8, 8), (5, 7), (1, 6), (9, 4), (240, 427)])
def test_zero_flow_is_exact_identity(align_corners, size):
    # Exact up to rounding of grid_sample's normalize/unnormalize round trip: ~1e-15 in float64,
    # a few 1e-5 in float32 at 427 px wide (any convention error would be >= 0.5 px of the ramp).
    x = torch.rand(2, 3, *size, dtype=torch.float64)
    out = flow_warp(x, torch.zeros(2, 2, *size, dtype=torch.float64), align_corners=align_corners)
    assert (out - x).abs().max() < 1e-12
    x32 = x.float()
    assert (flow_warp(x32, torch.zeros(2, 2, *size), align_corners=align_corners) - x32).abs().max() < 1e-4


def test_linspace_grid_is_not_identity_without_align_corners():
    # Documents the classic bug this module avoids: linspace(-1, 1, W) shifts every sample.
    x = ramp(8, 8)
    lin = torch.linspace(-1, 1, 8)
    grid = torch.stack(torch.meshgrid(lin, lin, indexing="xy"), -1)[None]
    wrong = F.grid_sample(x, grid, align_corners=False)
    assert (wrong - x).abs().max() > 1.0
    assert torch.allclose(flow_warp(x, torch.zeros(1, 2, 8, 8)), x, atol=1e-5)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("dx,dy", [(1, 0), (0, 2), (-2, 1), (3, -3)])
def test_integer_flow_is_a_shift(align_corners, dx, dy):
    h, w = 6, 9
    x = ramp(h, w, c=2) + 1.0
    flow = torch.zeros(1, 2, h, w)
    flow[:, 0], flow[:, 1] = dx, dy
    expected = torch.zeros_like(x)
    border = torch.empty_like(x)
    for i in range(h):
        for j in range(w):
            si, sj = i + dy, j + dx
            if 0 <= si < h and 0 <= sj < w:
                expected[..., i, j] = x[..., si, sj]
            border[..., i, j] = x[..., min(max(si, 0), h - 1), min(max(sj, 0), w - 1)]
    zeros = flow_warp(x, flow, padding_mode="zeros", align_corners=align_corners)
    assert torch.allclose(zeros, expected, atol=1e-4)
    repl = flow_warp(x, flow, padding_mode="border", align_corners=align_corners)
    assert torch.allclose(repl, border, atol=1e-4)


@pytest.mark.parametrize("padding", ["zeros", "border"])
@pytest.mark.parametrize("size", [(16, 16), (13, 21), (7, 30)])
def test_random_flow_matches_cv2_remap(padding, size):
    g = torch.Generator().manual_seed(sum(size))
    x = torch.rand(1, 3, *size, generator=g)
    # cv2.remap quantises sample positions to 1/32 pixel (INTER_BITS=5): put the flow on that
    # lattice so the oracle is exact and any difference is ours. Magnitudes reach past the edges.
    flow = torch.round((torch.rand(1, 2, *size, generator=g) * 2 - 1) * 4 * 32) / 32
    ours = flow_warp(x, flow, padding_mode=padding, align_corners=False)
    assert (ours - cv_warp(x, flow, padding)).abs().max() < 1e-4
    ours_ac = flow_warp(x, flow, padding_mode=padding, align_corners=True)
    assert (ours_ac - cv_warp(x, flow, padding)).abs().max() < 1e-4


def test_seed_example_ramp_samples():
    # 4x4 ramp sampled at the 3x3 normalized grid {-1, 0, 1}^2 (align_corners=False, zeros):
    # normalized -1, 0, 1 are pixel coordinates -0.5, 1.5, 3.5.
    x = ramp(4, 4)
    px = torch.tensor([-0.5, 1.5, 3.5])
    assert torch.allclose(normalize_coords(px, 4, align_corners=False), torch.tensor([-1.0, 0.0, 1.0]))
    ys, xs = torch.meshgrid(px, px, indexing="ij")
    out = sample_at(x, torch.stack((xs, ys))[None], padding_mode="zeros", align_corners=False)
    expected = torch.tensor([[0, 0.75, 0.75], [3, 7.5, 4.5], [3, 6.75, 3.75]])
    assert torch.allclose(out[0, 0], expected, atol=1e-6)


def test_normalize_coords_formulas():
    x = torch.tensor([0.0, 3.0, 7.0])
    assert torch.allclose(normalize_coords(x, 8, False), (2 * x + 1) / 8 - 1)
    assert torch.allclose(normalize_coords(x, 8, True), 2 * x / 7 - 1)


@pytest.mark.parametrize("padding", ["zeros", "border"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_gradcheck_features_and_flow(padding, align_corners):
    torch.manual_seed(0)
    x = torch.rand(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    # Keep samples away from integer positions, where bilinear interpolation has kinks.
    flow = (torch.randint(-2, 3, (1, 2, 5, 6)) + 0.25 + 0.5 * torch.rand(1, 2, 5, 6)).double()
    flow.requires_grad_(True)
    fn = lambda a, f: flow_warp(a, f, padding_mode=padding, align_corners=align_corners)
    assert torch.autograd.gradcheck(fn, (x, flow), eps=1e-6, atol=1e-5)


def test_warp_keeps_dtype_and_checks_shapes():
    x = torch.rand(1, 3, 4, 5, dtype=torch.float64)
    assert flow_warp(x, torch.zeros(1, 2, 4, 5, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(ValueError, match="flow must be"):
        flow_warp(x, torch.zeros(1, 2, 5, 4))
    with pytest.raises(ValueError, match="padding_mode"):
        flow_warp(x, torch.zeros(1, 2, 4, 5, dtype=torch.float64), padding_mode="reflection")


def test_pixel_grid():
    g = pixel_grid(2, 3, 4)
    assert g.shape == (2, 2, 3, 4)
    assert g[0, 0, 1].tolist() == [0, 1, 2, 3] and g[0, 1, :, 2].tolist() == [0, 1, 2]


@pytest.mark.parametrize("src,dst", [((8, 8), (16, 16)), ((16, 12), (8, 24)), ((12, 20), (5, 7))])
def test_resize_flow_rescales_axes_separately(src, dst):
    flow = torch.empty(1, 2, *src)
    flow[:, 0], flow[:, 1] = 3.0, -2.0
    out = resize_flow(flow, dst)
    assert out.shape == (1, 2, *dst)
    assert torch.allclose(out[:, 0], torch.full(dst, 3.0 * dst[1] / src[1]), atol=1e-5)
    assert torch.allclose(out[:, 1], torch.full(dst, -2.0 * dst[0] / src[0]), atol=1e-5)


def test_resize_flow_matches_warp_on_both_grids():
    # An affine flow resized to a non-square-ratio grid must warp a smooth image the same way
    # at both resolutions (pixel displacement scales with each axis' ratio).
    h, w, h2, w2 = 32, 48, 16, 12
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    flow = torch.stack((0.1 * (xs - w / 2) + 2.0, -0.05 * (ys - h / 2) + 1.0))[None]
    small = resize_flow(flow, (h2, w2))
    ys2, xs2 = torch.meshgrid(torch.arange(h2).float(), torch.arange(w2).float(), indexing="ij")
    # Pixel centre x2 on the small grid is x = (x2 + 0.5) * w / w2 - 0.5 on the big grid.
    xb, yb = (xs2 + 0.5) * w / w2 - 0.5, (ys2 + 0.5) * h / h2 - 0.5
    expect_u = (0.1 * (xb - w / 2) + 2.0) * w2 / w
    expect_v = (-0.05 * (yb - h / 2) + 1.0) * h2 / h
    inner = (slice(1, -1), slice(1, -1))  # antialiasing reads beyond the edge rows
    assert torch.allclose(small[0, 0][inner], expect_u[inner], atol=1e-3)
    assert torch.allclose(small[0, 1][inner], expect_v[inner], atol=1e-3)


def test_resize_flow_same_size_is_identity():
    flow = torch.randn(2, 2, 5, 6)
    assert resize_flow(flow, (5, 6)) is flow
