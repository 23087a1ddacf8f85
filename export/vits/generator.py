"""The HiFi-GAN generator (VITS's `dec`): latent frames to a waveform in [-1, 1]."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from voxserve.export.vits.config import VitsConfig
from voxserve.export.vits.layers import WeightNormConv1d, WeightNormConvTranspose1d, padding_for

# HiFi-GAN's leaky ReLU slope inside the generator (Piper's LRELU_SLOPE).
LRELU_SLOPE = 0.1


class ResBlock1(nn.Module):
    """HiFi-GAN residual block type 1: per dilation, a dilated then an undilated conv."""

    def __init__(self, channels: int, kernel_size: int, dilation: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            WeightNormConv1d(channels, channels, kernel_size, dilation=d,
                             padding=padding_for(kernel_size, d))
            for d in dilation
        )
        self.convs2 = nn.ModuleList(
            WeightNormConv1d(channels, channels, kernel_size, padding=padding_for(kernel_size))
            for _ in dilation
        )

    def forward(self, x: Tensor) -> Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            xt = c1(F.leaky_relu(x, LRELU_SLOPE))
            x = c2(F.leaky_relu(xt, LRELU_SLOPE)) + x
        return x


class ResBlock2(nn.Module):
    """HiFi-GAN residual block type 2: one dilated conv per dilation (Piper's medium voices)."""

    def __init__(self, channels: int, kernel_size: int, dilation: tuple[int, ...]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            WeightNormConv1d(channels, channels, kernel_size, dilation=d,
                             padding=padding_for(kernel_size, d))
            for d in dilation
        )

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            x = conv(F.leaky_relu(x, LRELU_SLOPE)) + x
        return x


class Generator(nn.Module):
    """Upsamples by prod(upsample_rates); each stage averages its multi-receptive-field blocks."""

    def __init__(self, config: VitsConfig) -> None:
        super().__init__()
        channels = config.upsample_initial_channel
        self.num_kernels = len(config.resblock_kernel_sizes)
        self.conv_pre = nn.Conv1d(config.inter_channels, channels, 7, 1, padding=3)
        resblock = ResBlock1 if config.resblock == "1" else ResBlock2
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for rate, kernel in zip(config.upsample_rates, config.upsample_kernel_sizes, strict=True):
            self.ups.append(WeightNormConvTranspose1d(
                channels, channels // 2, kernel, stride=rate, padding=(kernel - rate) // 2
            ))
            channels //= 2
            self.resblocks.extend(
                resblock(channels, k, d) for k, d in
                zip(config.resblock_kernel_sizes, config.resblock_dilation_sizes, strict=True)
            )
        self.conv_post = nn.Conv1d(channels, 1, 7, 1, padding=3, bias=False)
        if config.gin_channels:
            self.cond = nn.Conv1d(config.gin_channels, config.upsample_initial_channel, 1)

    def forward(self, x: Tensor, g: Tensor | None = None) -> Tensor:
        """[b, inter_channels, frames] -> [b, 1, frames * hop_length]."""
        x = self.conv_pre(x)
        if g is not None:
            x = x + self.cond(g)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.num_kernels:(i + 1) * self.num_kernels]
            total = blocks[0](x)
            for block in blocks[1:]:
                total = total + block(x)
            x = total / self.num_kernels
        # Piper's last activation uses leaky_relu's default slope (0.01), not LRELU_SLOPE
        x = self.conv_post(F.leaky_relu(x))
        return torch.tanh(x)
