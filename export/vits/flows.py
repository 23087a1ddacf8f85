"""The invertible flows of VITS, run in the inverse (noise -> data) direction that inference uses.

Training runs them forward to score likelihoods; an exported voice only ever samples, so each
flow here offers `inverse()` alone. Parameter names follow Piper's vits/modules.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Protocol, cast

import torch
from torch import Tensor, nn

from voxserve.export.vits.layers import WN, DDSConv
from voxserve.export.vits.spline import inverse_rational_quadratic


class Flow(Protocol):
    """What every flow here offers: the noise -> data direction."""

    def inverse(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor: ...


def invert(flows: Iterable[nn.Module], x: Tensor, x_mask: Tensor, g: Tensor | None) -> Tensor:
    """Run `flows` in the order given, each inverted."""
    for flow in flows:
        x = cast(Flow, flow).inverse(x, x_mask, g=g)
    return x


class Flip(nn.Module):
    """Reverses the channel order so the next coupling layer transforms the other half."""

    def inverse(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor:
        return torch.flip(x, [1])


class ElementwiseAffine(nn.Module):
    """y = m + exp(logs) * x per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.m = nn.Parameter(torch.zeros(channels, 1))
        self.logs = nn.Parameter(torch.zeros(channels, 1))

    def inverse(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor:
        return (x - self.m) * torch.exp(-self.logs) * x_mask


class ConvFlow(nn.Module):
    """Neural-spline coupling: the first half of the channels sets a spline on the second half."""

    def __init__(
        self, in_channels: int, filter_channels: int, kernel_size: int, n_layers: int,
        num_bins: int = 10, tail_bound: float = 5.0,
    ) -> None:
        super().__init__()
        self.filter_channels = filter_channels
        self.num_bins = num_bins
        self.tail_bound = tail_bound
        self.half_channels = in_channels // 2
        self.pre = nn.Conv1d(self.half_channels, filter_channels, 1)
        self.convs = DDSConv(filter_channels, kernel_size, n_layers)
        # per channel: bin widths, bin heights and the bins - 1 inner knot derivatives
        self.proj = nn.Conv1d(filter_channels, self.half_channels * (num_bins * 3 - 1), 1)
        self.proj.weight.data.zero_()
        self.proj.bias.data.zero_()  # type: ignore[union-attr]

    def inverse(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor:
        x0, x1 = torch.split(x, [self.half_channels] * 2, 1)
        h = self.convs(self.pre(x0), x_mask, g=g)
        h = self.proj(h) * x_mask
        b, c, t = x0.shape
        h = h.reshape(b, c, -1, t).permute(0, 1, 3, 2)  # [b, c, t, 3 * bins - 1]
        scale = math.sqrt(self.filter_channels)
        widths = h[..., :self.num_bins] / scale
        heights = h[..., self.num_bins:2 * self.num_bins] / scale
        derivatives = h[..., 2 * self.num_bins:]
        x1 = inverse_rational_quadratic(x1, widths, heights, derivatives, self.tail_bound)
        return torch.cat([x0, x1], 1) * x_mask


class ResidualCouplingLayer(nn.Module):
    """Affine coupling (mean only, as Piper builds it) whose shift comes from a WN on one half."""

    def __init__(
        self, channels: int, hidden_channels: int, kernel_size: int, dilation_rate: int,
        n_layers: int, gin_channels: int = 0,
    ) -> None:
        super().__init__()
        if channels % 2:
            raise ValueError(f"coupling channels must be even, not {channels}")
        self.half_channels = channels // 2
        self.pre = nn.Conv1d(self.half_channels, hidden_channels, 1)
        self.enc = WN(hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels)
        self.post = nn.Conv1d(hidden_channels, self.half_channels, 1)
        self.post.weight.data.zero_()
        self.post.bias.data.zero_()  # type: ignore[union-attr]

    def inverse(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor:
        x0, x1 = torch.split(x, [self.half_channels] * 2, 1)
        h = self.enc(self.pre(x0) * x_mask, x_mask, g=g)
        m = self.post(h) * x_mask
        return torch.cat([x0, (x1 - m) * x_mask], 1)
