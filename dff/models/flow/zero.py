"""No motion: the naive-propagation baseline."""
from __future__ import annotations

from .base import FlowNet


class ZeroFlow(FlowNet):
    """Zero flow and no scale field: the key's features are copied as they are."""

    def estimate(self, current, key, out_size):
        return current.new_zeros(current.shape[0], 2, *out_size), None
