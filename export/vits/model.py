"""Synthesizer: Piper's VITS generator (SynthesizerTrn) and its inference pass, ids to audio.

The layout and parameter names are Piper's (piper_train/vits/models.py), so the generator part of
a Piper checkpoint (`model_g.*`) loads with strict=True. Inference runs the text encoder, the
duration predictor, a monotonic expansion of the prior, the inverse flow and the HiFi-GAN
generator. The posterior encoder and the training-only duration-predictor branch are built for
their weights and are not on the inference path.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from voxserve.export.vits.attention import Encoder
from voxserve.export.vits.config import VitsConfig
from voxserve.export.vits.flows import (
    ConvFlow,
    ElementwiseAffine,
    Flip,
    ResidualCouplingLayer,
    invert,
)
from voxserve.export.vits.generator import Generator
from voxserve.export.vits.layers import WN, DDSConv, LayerNorm

# Fixed by Piper's SynthesizerTrn rather than by hyper-parameters:
POSTERIOR_KERNEL_SIZE, POSTERIOR_LAYERS = 5, 16
FLOW_KERNEL_SIZE, FLOW_LAYERS, FLOW_COUPLINGS = 5, 4, 4
DP_KERNEL_SIZE, SDP_FLOWS, DP_FILTER_CHANNELS = 3, 4, 256
DDS_LAYERS = 3


def sequence_mask(lengths: Tensor, max_length: Tensor | int) -> Tensor:
    """[b] lengths -> [b, max_length] bool, True inside each sequence."""
    # a tensor max_length keeps the traced graph's output length dynamic
    positions = torch.arange(max_length, dtype=lengths.dtype,  # type: ignore[arg-type]
                             device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def generate_path(duration: Tensor, mask: Tensor) -> Tensor:
    """Hard monotonic alignment [b, 1, t_y, t_x] from integer durations [b, 1, t_x]."""
    b, _, t_y, t_x = mask.shape
    cum_duration = torch.cumsum(duration, -1).view(b * t_x)
    path = sequence_mask(cum_duration, t_y).type_as(mask).view(b, t_x, t_y)
    path = path - F.pad(path, (0, 0, 1, 0, 0, 0))[:, :-1]
    return path.unsqueeze(1).transpose(2, 3) * mask


class TextEncoder(nn.Module):
    """Phoneme ids -> hidden states and the prior's mean and log-std per id."""

    def __init__(self, config: VitsConfig) -> None:
        super().__init__()
        self.hidden_channels = config.hidden_channels
        self.out_channels = config.inter_channels
        self.emb = nn.Embedding(config.num_symbols, config.hidden_channels)
        nn.init.normal_(self.emb.weight, 0.0, config.hidden_channels**-0.5)
        self.encoder = Encoder(config.hidden_channels, config.filter_channels, config.n_heads,
                               config.n_layers, config.kernel_size)
        self.proj = nn.Conv1d(config.hidden_channels, config.inter_channels * 2, 1)

    def forward(self, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        x = self.emb(ids) * math.sqrt(self.hidden_channels)  # [b, t, h]
        x = torch.transpose(x, 1, -1)  # [b, h, t]
        x_mask = torch.unsqueeze(sequence_mask(lengths, x.size(2)), 1).type_as(x)
        x = self.encoder(x * x_mask, x_mask)
        stats = self.proj(x) * x_mask
        m, logs = torch.split(stats, self.out_channels, dim=1)
        return x, m, logs, x_mask


class StochasticDurationPredictor(nn.Module):
    """Log-durations sampled by a spline flow conditioned on the text (Piper's default `dp`)."""

    def __init__(self, in_channels: int, gin_channels: int = 0) -> None:
        super().__init__()
        filter_channels = in_channels  # Piper overrides its filter_channels argument likewise
        self.flows = nn.ModuleList([ElementwiseAffine(2)])
        self.post_flows = nn.ModuleList([ElementwiseAffine(2)])
        for _ in range(SDP_FLOWS):
            self.flows.extend([ConvFlow(2, filter_channels, DP_KERNEL_SIZE, DDS_LAYERS), Flip()])
            self.post_flows.extend(
                [ConvFlow(2, filter_channels, DP_KERNEL_SIZE, DDS_LAYERS), Flip()]
            )
        # post_*: the training-time posterior over durations; kept so checkpoints load strictly
        self.post_pre = nn.Conv1d(1, filter_channels, 1)
        self.post_proj = nn.Conv1d(filter_channels, filter_channels, 1)
        self.post_convs = DDSConv(filter_channels, DP_KERNEL_SIZE, DDS_LAYERS)
        self.pre = nn.Conv1d(in_channels, filter_channels, 1)
        self.proj = nn.Conv1d(filter_channels, filter_channels, 1)
        self.convs = DDSConv(filter_channels, DP_KERNEL_SIZE, DDS_LAYERS)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, filter_channels, 1)

    def forward(
        self, x: Tensor, x_mask: Tensor, g: Tensor | None, noise_scale: Tensor | float
    ) -> Tensor:
        """Sampled log-durations [b, 1, t]."""
        x = self.pre(x)
        if g is not None:
            x = x + self.cond(g)
        x = self.proj(self.convs(x, x_mask)) * x_mask
        # inverse order, skipping the flow next to the affine one as Piper does ("useless vflow")
        flows = list(reversed(self.flows))
        flows = flows[:-2] + [flows[-1]]
        z = torch.randn_like(x[:, :2, :]) * noise_scale
        return invert(flows, z, x_mask, g=x)[:, :1, :]


class DurationPredictor(nn.Module):
    """Deterministic log-durations (Piper's `dp` when trained with use_sdp=False)."""

    def __init__(self, in_channels: int, filter_channels: int, gin_channels: int = 0) -> None:
        super().__init__()
        padding = DP_KERNEL_SIZE // 2
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, DP_KERNEL_SIZE, padding=padding)
        self.norm_1 = LayerNorm(filter_channels)
        self.conv_2 = nn.Conv1d(filter_channels, filter_channels, DP_KERNEL_SIZE, padding=padding)
        self.norm_2 = LayerNorm(filter_channels)
        self.proj = nn.Conv1d(filter_channels, 1, 1)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, in_channels, 1)

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None) -> Tensor:
        if g is not None:
            x = x + self.cond(g)
        x = self.norm_1(torch.relu(self.conv_1(x * x_mask)))
        x = self.norm_2(torch.relu(self.conv_2(x * x_mask)))
        return self.proj(x * x_mask) * x_mask


class PosteriorEncoder(nn.Module):
    """Linear spectrogram -> latent (training only; built so checkpoints load strictly)."""

    def __init__(self, config: VitsConfig) -> None:
        super().__init__()
        self.out_channels = config.inter_channels
        self.pre = nn.Conv1d(config.spec_channels, config.hidden_channels, 1)
        self.enc = WN(config.hidden_channels, POSTERIOR_KERNEL_SIZE, 1, POSTERIOR_LAYERS,
                      config.gin_channels)
        self.proj = nn.Conv1d(config.hidden_channels, config.inter_channels * 2, 1)

    def forward(
        self, spec: Tensor, lengths: Tensor, g: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The posterior's mean and log-std [b, inter_channels, frames], and the frame mask."""
        mask = torch.unsqueeze(sequence_mask(lengths, spec.size(2)), 1).type_as(spec)
        stats = self.proj(self.enc(self.pre(spec) * mask, mask, g=g)) * mask
        m, logs = torch.split(stats, self.out_channels, dim=1)
        return m, logs, mask


class ResidualCouplingBlock(nn.Module):
    """The prior flow: four mean-only coupling layers, each followed by a channel flip."""

    def __init__(self, config: VitsConfig) -> None:
        super().__init__()
        self.flows = nn.ModuleList()
        for _ in range(FLOW_COUPLINGS):
            self.flows.append(ResidualCouplingLayer(
                config.inter_channels, config.hidden_channels, FLOW_KERNEL_SIZE, 1, FLOW_LAYERS,
                config.gin_channels,
            ))
            self.flows.append(Flip())

    def inverse(self, z: Tensor, mask: Tensor, g: Tensor | None) -> Tensor:
        return invert(reversed(self.flows), z, mask, g=g)


class Synthesizer(nn.Module):
    """Piper's SynthesizerTrn generator: module names match the checkpoint's `model_g.*` keys."""

    def __init__(self, config: VitsConfig) -> None:
        super().__init__()
        self.config = config
        self.enc_p = TextEncoder(config)
        self.dec = Generator(config)
        self.enc_q = PosteriorEncoder(config)
        self.flow = ResidualCouplingBlock(config)
        self.dp: StochasticDurationPredictor | DurationPredictor
        if config.use_sdp:
            self.dp = StochasticDurationPredictor(config.hidden_channels, config.gin_channels)
        else:
            self.dp = DurationPredictor(config.hidden_channels, DP_FILTER_CHANNELS,
                                        config.gin_channels)
        if config.is_multispeaker:
            self.emb_g = nn.Embedding(config.num_speakers, config.gin_channels)

    def infer(
        self, ids: Tensor, id_lengths: Tensor, noise_scale: Tensor | float,
        length_scale: Tensor | float, noise_w: Tensor | float, sid: Tensor | None = None,
    ) -> Tensor:
        """Phoneme ids [b, t] -> audio [b, 1, samples]; noise scales 0 make it deterministic."""
        x, m_p, logs_p, x_mask = self.enc_p(ids, id_lengths)
        g = self._speaker(sid)
        if isinstance(self.dp, StochasticDurationPredictor):
            logw = self.dp(x, x_mask, g, noise_scale=noise_w)
        else:
            logw = self.dp(x, x_mask, g)
        w_ceil = torch.ceil(torch.exp(logw) * x_mask * length_scale)
        y_lengths = torch.clamp_min(torch.sum(w_ceil, [1, 2]), 1).long()
        y_mask = torch.unsqueeze(sequence_mask(y_lengths, y_lengths.max()), 1).type_as(x_mask)
        attn_mask = torch.unsqueeze(x_mask, 2) * torch.unsqueeze(y_mask, -1)
        attn = generate_path(w_ceil, attn_mask).squeeze(1)  # [b, frames, ids]

        # expand the prior from ids to frames: [b, frames, ids] x [b, ids, d] -> [b, d, frames]
        m_p = torch.matmul(attn, m_p.transpose(1, 2)).transpose(1, 2)
        logs_p = torch.matmul(attn, logs_p.transpose(1, 2)).transpose(1, 2)
        z_p = m_p + torch.randn_like(m_p) * torch.exp(logs_p) * noise_scale
        z = self.flow.inverse(z_p, y_mask, g=g)
        return self.dec(z * y_mask, g=g)

    def _speaker(self, sid: Tensor | None) -> Tensor | None:
        """The speaker embedding [b, gin_channels, 1], or None for a single-speaker model."""
        if not self.config.is_multispeaker:
            return None
        if sid is None:
            raise ValueError("a multi-speaker model needs a speaker id")
        return self.emb_g(sid).unsqueeze(-1)
