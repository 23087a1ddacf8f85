"""The text encoder's transformer: multi-head self-attention with relative positions, and FFN.

Follows Piper's vits/attentions.py (itself from VITS/Glow-TTS): keys and values get learned
embeddings for offsets within +-window_size, shared by all heads. The padding-then-slicing of
those embeddings avoids data-dependent branches, so a traced export works at any length.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from voxserve.export.vits.layers import LayerNorm

# Piper's Encoder default: attention sees relative offsets up to 4 tokens either side.
WINDOW_SIZE = 4
# Piper fills masked attention scores with -1e4 (not -inf), kept for identical outputs.
MASKED_SCORE = -1e4


class MultiHeadAttention(nn.Module):
    """Self-attention over [batch, channels, time] with relative key and value embeddings."""

    def __init__(self, channels: int, n_heads: int, window_size: int = WINDOW_SIZE) -> None:
        super().__init__()
        if channels % n_heads:
            raise ValueError(f"channels ({channels}) must divide by n_heads ({n_heads})")
        self.n_heads = n_heads
        self.window_size = window_size
        self.k_channels = channels // n_heads
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, channels, 1)
        rel_stddev = self.k_channels**-0.5
        self.emb_rel_k = nn.Parameter(
            torch.randn(1, window_size * 2 + 1, self.k_channels) * rel_stddev
        )
        self.emb_rel_v = nn.Parameter(
            torch.randn(1, window_size * 2 + 1, self.k_channels) * rel_stddev
        )

    def forward(self, x: Tensor, attn_mask: Tensor) -> Tensor:
        return self.conv_o(self._attend(self.conv_q(x), self.conv_k(x), self.conv_v(x), attn_mask))

    def _attend(self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor) -> Tensor:
        b, d, t = key.size(0), key.size(1), key.size(2)
        # [b, d, t] -> [b, heads, t, d_k]
        query = query.view(b, self.n_heads, self.k_channels, t).transpose(2, 3)
        key = key.view(b, self.n_heads, self.k_channels, t).transpose(2, 3)
        value = value.view(b, self.n_heads, self.k_channels, t).transpose(2, 3)

        query = query / math.sqrt(self.k_channels)
        scores = torch.matmul(query, key.transpose(-2, -1))
        rel_keys = self._relative_embeddings(self.emb_rel_k, t)
        rel_logits = torch.matmul(query, rel_keys.unsqueeze(0).transpose(-2, -1))
        scores = scores + _relative_to_absolute(rel_logits)
        scores = scores.masked_fill(mask == 0, MASKED_SCORE)
        p_attn = F.softmax(scores, dim=-1)  # [b, heads, t, t]

        output = torch.matmul(p_attn, value)
        rel_values = self._relative_embeddings(self.emb_rel_v, t)
        output = output + torch.matmul(_absolute_to_relative(p_attn), rel_values.unsqueeze(0))
        return output.transpose(2, 3).contiguous().view(b, d, t)

    def _relative_embeddings(self, embeddings: Tensor, length: int) -> Tensor:
        """The 2*length-1 embeddings for offsets -(length-1)..(length-1), zero past the window."""
        pad_length = max(length - (self.window_size + 1), 0)
        start = max((self.window_size + 1) - length, 0)
        end = start + 2 * length - 1
        if pad_length > 0:
            embeddings = F.pad(embeddings, (0, 0, pad_length, pad_length, 0, 0))
        return embeddings[:, start:end]


def _relative_to_absolute(x: Tensor) -> Tensor:
    """[b, h, l, 2l-1] logits by relative offset -> [b, h, l, l] by absolute position."""
    batch, heads, length, _ = x.size()
    x = F.pad(x, (0, 1, 0, 0, 0, 0, 0, 0))
    x_flat = x.view([batch, heads, length * 2 * length])
    x_flat = F.pad(x_flat, (0, length - 1, 0, 0, 0, 0))
    return x_flat.view([batch, heads, length + 1, 2 * length - 1])[:, :, :length, length - 1:]


def _absolute_to_relative(x: Tensor) -> Tensor:
    """[b, h, l, l] weights by absolute position -> [b, h, l, 2l-1] by relative offset."""
    batch, heads, length, _ = x.size()
    x = F.pad(x, (0, length - 1, 0, 0, 0, 0, 0, 0))
    x_flat = x.view([batch, heads, length * length + length * (length - 1)])
    x_flat = F.pad(x_flat, (length, 0, 0, 0, 0, 0))  # leading zeros skew rows into offsets
    return x_flat.view([batch, heads, length, 2 * length])[:, :, :, 1:]


class FFN(nn.Module):
    """Position-wise feed-forward block: two 'same'-padded convolutions with a ReLU between."""

    def __init__(self, channels: int, filter_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size)

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        x = torch.relu(self.conv_1(self._same_padding(x * x_mask)))
        return self.conv_2(self._same_padding(x * x_mask)) * x_mask

    def _same_padding(self, x: Tensor) -> Tensor:
        if self.kernel_size == 1:
            return x
        return F.pad(x, ((self.kernel_size - 1) // 2, self.kernel_size // 2, 0, 0, 0, 0))


class Encoder(nn.Module):
    """Post-norm transformer layers: attention + LayerNorm, then FFN + LayerNorm."""

    def __init__(
        self, hidden_channels: int, filter_channels: int, n_heads: int, n_layers: int,
        kernel_size: int,
    ) -> None:
        super().__init__()
        self.attn_layers = nn.ModuleList(
            MultiHeadAttention(hidden_channels, n_heads) for _ in range(n_layers)
        )
        self.norm_layers_1 = nn.ModuleList(LayerNorm(hidden_channels) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(
            FFN(hidden_channels, filter_channels, kernel_size) for _ in range(n_layers)
        )
        self.norm_layers_2 = nn.ModuleList(LayerNorm(hidden_channels) for _ in range(n_layers))

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)
        x = x * x_mask
        for attn, norm_1, ffn, norm_2 in zip(
            self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2, strict=True
        ):
            x = norm_1(x + attn(x, attn_mask))
            x = norm_2(x + ffn(x, x_mask))
        return x * x_mask
