"""Tiny models for stream and policy tests (seeded, eval mode)."""
import torch

from dff.models import build_model


def tiny_model():
    torch.manual_seed(0)
    return build_model(2, "resnet18", 8, feat_channels=8, flow_width=0.25).eval()


def tiny_accel(**kw):
    """A tiny Accel model whose fusion mixes both branches (not the reference pass-through init)."""
    torch.manual_seed(0)
    model = build_model(2, "resnet18", 16, feat_channels=8, flow_width=0.25, arch="accel", update_channels=8,
                        **kw).eval()
    torch.nn.init.normal_(model.fusion.weight, std=0.5)
    return model
