"""Inverse rational-quadratic spline with linear tails (Durkan et al., Neural Spline Flows).

Piper's vits/transforms.py computes the spline only on the in-range elements (boolean indexing);
this version computes it on every element, with inputs clamped into range, and keeps the input
outside: identical values, no data-dependent shapes in the exported graph.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

# Piper's (and nflows') defaults for every ConvFlow.
MIN_BIN_WIDTH = 1e-3
MIN_BIN_HEIGHT = 1e-3
MIN_DERIVATIVE = 1e-3
# softplus(x) = 1 - MIN_DERIVATIVE: the outer knots get slope 1 and meet the linear tails smoothly.
_TAIL_DERIVATIVE = math.log(math.expm1(1 - MIN_DERIVATIVE))
# Piper nudges the last knot up so an input exactly on the upper bound finds the last bin.
_SEARCH_EPS = 1e-6


def inverse_rational_quadratic(
    inputs: Tensor, widths: Tensor, heights: Tensor, derivatives: Tensor, tail_bound: float
) -> Tensor:
    """Invert the spline on [-tail_bound, tail_bound]; the identity outside.

    inputs: [...]; widths, heights: [..., bins] unnormalised; derivatives: [..., bins - 1].
    """
    inside = (inputs >= -tail_bound) & (inputs <= tail_bound)
    tail = torch.full_like(derivatives[..., :1], _TAIL_DERIVATIVE)
    derivatives = torch.cat([tail, derivatives, tail], dim=-1)
    clamped = inputs.clamp(-tail_bound, tail_bound)
    outputs = _inverse_in_range(clamped, widths, heights, derivatives, tail_bound)
    return torch.where(inside, outputs, inputs)


def _knots(unnormalized: Tensor, min_size: float, bound: float) -> tuple[Tensor, Tensor]:
    """Knot positions [..., bins + 1] from -bound to bound, and bin sizes [..., bins]."""
    num_bins = unnormalized.shape[-1]
    sizes = min_size + (1 - min_size * num_bins) * F.softmax(unnormalized, dim=-1)
    cumulative = torch.cumsum(sizes, dim=-1)
    # the first and last knots are exactly 0 and 1 before scaling (cumsum only nears 1)
    zeros = torch.zeros_like(cumulative[..., :1])
    cumulative = torch.cat([zeros, cumulative[..., :-1], zeros + 1], dim=-1)
    knots = 2 * bound * cumulative - bound
    return knots, knots[..., 1:] - knots[..., :-1]


def _inverse_in_range(
    inputs: Tensor, u_widths: Tensor, u_heights: Tensor, u_derivatives: Tensor, bound: float
) -> Tensor:
    cumwidths, widths = _knots(u_widths, MIN_BIN_WIDTH, bound)
    cumheights, heights = _knots(u_heights, MIN_BIN_HEIGHT, bound)
    derivatives = MIN_DERIVATIVE + F.softplus(u_derivatives)

    search = torch.cat([cumheights[..., :-1], cumheights[..., -1:] + _SEARCH_EPS], dim=-1)
    bin_idx = (torch.sum(inputs[..., None] >= search, dim=-1) - 1)[..., None]

    def at_bin(values: Tensor) -> Tensor:
        return values.gather(-1, bin_idx)[..., 0]

    input_cumwidths = at_bin(cumwidths)
    input_bin_widths = at_bin(widths)
    input_cumheights = at_bin(cumheights)
    input_heights = at_bin(heights)
    input_delta = at_bin(heights / widths)
    input_derivatives = at_bin(derivatives)
    input_derivatives_plus_one = at_bin(derivatives[..., 1:])

    # solve the bin's quadratic for theta in [0, 1] (nflows' numerically stable root)
    shifted = inputs - input_cumheights
    slope_sum = input_derivatives + input_derivatives_plus_one - 2 * input_delta
    a = shifted * slope_sum + input_heights * (input_delta - input_derivatives)
    b = input_heights * input_derivatives - shifted * slope_sum
    c = -input_delta * shifted
    discriminant = b.pow(2) - 4 * a * c
    root = (2 * c) / (-b - torch.sqrt(discriminant))
    return root * input_bin_widths + input_cumwidths
