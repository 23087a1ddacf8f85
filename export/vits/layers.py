"""The convolution blocks VITS is built from: weight-normed convs, channel LayerNorm, WN, DDSConv.

Parameter names follow Piper's (vits/modules.py) so its checkpoints load with strict=True:
weight-normed convolutions store `weight_g` and `weight_v`, as torch.nn.utils.weight_norm does.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def padding_for(kernel_size: int, dilation: int = 1) -> int:
    """'Same' padding of an odd kernel: output length equals input length."""
    return (kernel_size * dilation - dilation) // 2


def weight_norm_magnitude(weight: Tensor) -> Tensor:
    """||w||, taken over every dim but the first (weight_norm's dim=0): the `weight_g` of w."""
    return weight.pow(2).sum(dim=tuple(range(1, weight.dim())), keepdim=True).sqrt()


def weight_norm_weight(weight_v: Tensor, weight_g: Tensor) -> Tensor:
    """w = g * v / ||v||."""
    return weight_v * (weight_g / weight_norm_magnitude(weight_v))


class _WeightNormed(nn.Module):
    """A convolution's parameters under weight normalisation: `weight_g`, `weight_v`, `bias`."""

    def __init__(self, conv: nn.Conv1d | nn.ConvTranspose1d) -> None:
        super().__init__()
        self.weight_v = nn.Parameter(conv.weight.detach().clone())
        self.weight_g = nn.Parameter(weight_norm_magnitude(conv.weight.detach()))
        self.bias = nn.Parameter(conv.bias.detach().clone())  # type: ignore[union-attr]

    def weight(self) -> Tensor:
        return weight_norm_weight(self.weight_v, self.weight_g)


class WeightNormConv1d(_WeightNormed):
    """nn.Conv1d under weight normalisation, stored as `weight_g`, `weight_v`, `bias`."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, *,
        dilation: int = 1, padding: int = 0,
    ) -> None:
        super().__init__(nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation,
                                   padding=padding))
        self.dilation = dilation
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv1d(x, self.weight(), self.bias, dilation=self.dilation, padding=self.padding)


class WeightNormConvTranspose1d(_WeightNormed):
    """nn.ConvTranspose1d under weight normalisation (norm over out-channels and taps)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int, padding: int
    ) -> None:
        super().__init__(nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride,
                                            padding))
        self.stride = stride
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv_transpose1d(x, self.weight(), self.bias, stride=self.stride,
                                  padding=self.padding)


class LayerNorm(nn.Module):
    """LayerNorm over the channel axis of [batch, channels, time] (Piper's `gamma`, `beta`)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        x = F.layer_norm(x.transpose(1, -1), (self.channels,), self.gamma, self.beta, self.eps)
        return x.transpose(1, -1)


class WN(nn.Module):
    """WaveNet-style gated dilated convolutions, optionally conditioned on a speaker vector."""

    def __init__(
        self, hidden_channels: int, kernel_size: int, dilation_rate: int, n_layers: int,
        gin_channels: int = 0,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"WN kernel_size must be odd, not {kernel_size}")
        self.hidden_channels = hidden_channels
        self.n_layers = n_layers
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        if gin_channels:
            self.cond_layer = WeightNormConv1d(gin_channels, 2 * hidden_channels * n_layers, 1)
        for i in range(n_layers):
            dilation = dilation_rate**i
            self.in_layers.append(WeightNormConv1d(
                hidden_channels, 2 * hidden_channels, kernel_size, dilation=dilation,
                padding=padding_for(kernel_size, dilation),
            ))
            # the last layer only feeds the skip sum, so it needs no residual half
            res_skip = 2 * hidden_channels if i < n_layers - 1 else hidden_channels
            self.res_skip_layers.append(WeightNormConv1d(hidden_channels, res_skip, 1))

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor:
        h = self.hidden_channels
        output = torch.zeros_like(x)
        cond = self.cond_layer(g) if g is not None else None
        for i, (in_layer, res_skip_layer) in enumerate(
            zip(self.in_layers, self.res_skip_layers, strict=True)
        ):
            x_in = in_layer(x)
            if cond is not None:
                x_in = x_in + cond[:, i * 2 * h:(i + 1) * 2 * h, :]
            acts = torch.tanh(x_in[:, :h, :]) * torch.sigmoid(x_in[:, h:, :])
            res_skip = res_skip_layer(acts)
            if i < self.n_layers - 1:
                x = (x + res_skip[:, :h, :]) * x_mask
                output = output + res_skip[:, h:, :]
            else:
                output = output + res_skip
        return output * x_mask


class DDSConv(nn.Module):
    """Dilated depth-separable convolutions with GELU, the duration predictor's backbone."""

    def __init__(self, channels: int, kernel_size: int, n_layers: int) -> None:
        super().__init__()
        self.convs_sep = nn.ModuleList()
        self.convs_1x1 = nn.ModuleList()
        self.norms_1 = nn.ModuleList()
        self.norms_2 = nn.ModuleList()
        for i in range(n_layers):
            dilation = kernel_size**i
            self.convs_sep.append(nn.Conv1d(
                channels, channels, kernel_size, groups=channels, dilation=dilation,
                padding=padding_for(kernel_size, dilation),
            ))
            self.convs_1x1.append(nn.Conv1d(channels, channels, 1))
            self.norms_1.append(LayerNorm(channels))
            self.norms_2.append(LayerNorm(channels))

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor:
        if g is not None:
            x = x + g
        for conv_sep, norm_1, conv_1x1, norm_2 in zip(
            self.convs_sep, self.norms_1, self.convs_1x1, self.norms_2, strict=True
        ):
            y = F.gelu(norm_1(conv_sep(x * x_mask)))
            y = F.gelu(norm_2(conv_1x1(y)))
            x = x + y
        return x * x_mask
