"""The Whisper network in PyTorch, written like openai/whisper's model.py with an explicit cache.

Parameter names match openai's checkpoints, so an openai `model_state_dict` loads as it is.
Where openai keeps keys and values in forward hooks, the decoder here takes the self-attention
cache and the encoder's cross-attention keys/values as tensors and returns the grown cache, so
the ONNX graphs carry it as inputs and outputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from voxserve.export.errors import WeightsError
from voxserve.server.asr.config import ModelDims


@dataclass(frozen=True)
class ModelDimensions(ModelDims):
    """The engine's ModelDims (named as in openai's checkpoints' `"dims"`), checked for a build."""

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"dimension {name} must be a positive int, not {value!r}")
        if self.n_audio_state % self.n_audio_head or self.n_text_state % self.n_text_head:
            raise ValueError("state sizes must be divisible by their head counts")
        if self.n_audio_state != self.n_text_state:
            raise ValueError("encoder and decoder widths differ; cross-attention needs them equal")

    def as_dict(self) -> dict[str, int]:
        """The dims as openai stores them."""
        return asdict(self)


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> Tensor:
    """Sinusoidal position table of the audio encoder (openai/whisper model.py)."""
    log_timescale_increment = np.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-log_timescale_increment * torch.arange(channels // 2))
    scaled_time = torch.arange(length)[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(scaled_time), torch.cos(scaled_time)], dim=1)


def default_alignment_heads(dims: ModelDimensions) -> tuple[tuple[int, int], ...]:
    """openai's fallback when a model has no tuned list: every head of the upper half."""
    return tuple(
        (layer, head)
        for layer in range(dims.n_text_layer // 2, dims.n_text_layer)
        for head in range(dims.n_text_head)
    )


class MultiHeadAttention(nn.Module):
    """Scaled dot-product attention over projected queries, keys and values."""

    def __init__(self, n_state: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.head_dim = n_state // n_head
        self.query = nn.Linear(n_state, n_state)
        self.key = nn.Linear(n_state, n_state, bias=False)
        self.value = nn.Linear(n_state, n_state)
        self.out = nn.Linear(n_state, n_state)

    def attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """q [b, n_q, d], k and v [b, n_k, d] -> (output [b, n_q, d], weights [b, h, n_q, n_k])."""
        # openai scales q and k by head_dim ** -0.25 each rather than q @ k by head_dim ** -0.5
        scale = self.head_dim**-0.25
        q = q.unflatten(-1, (self.n_head, self.head_dim)).permute(0, 2, 1, 3) * scale
        k = k.unflatten(-1, (self.n_head, self.head_dim)).permute(0, 2, 3, 1) * scale
        v = v.unflatten(-1, (self.n_head, self.head_dim)).permute(0, 2, 1, 3)
        scores = q @ k
        if mask is not None:
            scores = scores + mask
        weights = scores.float().softmax(dim=-1).to(q.dtype)
        output = (weights @ v).permute(0, 2, 1, 3).flatten(start_dim=2)
        return self.out(output), weights

    def forward(self, x: Tensor) -> Tensor:
        """Self-attention without a mask (the encoder's)."""
        output, _ = self.attend(self.query(x), self.key(x), self.value(x), None)
        return output


def _mlp(n_state: int) -> nn.Sequential:
    # indices 0 and 2 are the names openai's checkpoints use
    return nn.Sequential(
        nn.Linear(n_state, 4 * n_state), nn.GELU(), nn.Linear(4 * n_state, n_state)
    )


class EncoderBlock(nn.Module):
    """Pre-norm self-attention and MLP."""

    def __init__(self, n_state: int, n_head: int) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(n_state, n_head)
        self.attn_ln = nn.LayerNorm(n_state)
        self.mlp = _mlp(n_state)
        self.mlp_ln = nn.LayerNorm(n_state)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.attn_ln(x))
        return x + self.mlp(self.mlp_ln(x))


class DecoderBlock(nn.Module):
    """Pre-norm causal self-attention with a cache, cross-attention to the audio, and MLP."""

    def __init__(self, n_state: int, n_head: int) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(n_state, n_head)
        self.attn_ln = nn.LayerNorm(n_state)
        self.cross_attn = MultiHeadAttention(n_state, n_head)
        self.cross_attn_ln = nn.LayerNorm(n_state)
        self.mlp = _mlp(n_state)
        self.mlp_ln = nn.LayerNorm(n_state)

    def forward(
        self, x: Tensor, past_k: Tensor, past_v: Tensor, cross_k: Tensor, cross_v: Tensor,
        mask: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """-> (x, keys past+new, values past+new, cross-attention weights [b, h, n, n_audio])."""
        h = self.attn_ln(x)
        keys = torch.cat([past_k, self.attn.key(h)], dim=1)
        values = torch.cat([past_v, self.attn.value(h)], dim=1)
        out, _ = self.attn.attend(self.attn.query(h), keys, values, mask)
        x = x + out
        h = self.cross_attn_ln(x)
        query = self.cross_attn.query(h)
        out, cross_weights = self.cross_attn.attend(query, cross_k, cross_v, None)
        x = x + out
        x = x + self.mlp(self.mlp_ln(x))
        return x, keys, values, cross_weights


class AudioEncoder(nn.Module):
    """Log-mel frames -> audio features; frames are not padded to 30 s."""

    positional_embedding: Tensor

    def __init__(self, n_mels: int, n_ctx: int, n_state: int, n_head: int, n_layer: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(n_mels, n_state, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(n_state, n_state, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positional_embedding", sinusoids(n_ctx, n_state))
        self.blocks = nn.ModuleList(EncoderBlock(n_state, n_head) for _ in range(n_layer))
        self.ln_post = nn.LayerNorm(n_state)

    def forward(self, mel: Tensor) -> Tensor:
        """mel [b, n_mels, n_frames] (n_frames even) -> [b, n_frames / 2, n_state]."""
        x = F.gelu(self.conv1(mel))
        x = F.gelu(self.conv2(x)).permute(0, 2, 1)
        x = x + self.positional_embedding[: x.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.ln_post(x)


def causal_mask(n_tokens: int, n_past: int) -> Tensor:
    """[n_tokens, n_past + n_tokens]: 0 where a new token may look, -inf at later positions."""
    query_positions = torch.arange(n_tokens) + n_past
    key_positions = torch.arange(n_past + n_tokens)
    future = key_positions[None, :] > query_positions[:, None]
    return torch.zeros(future.shape).masked_fill(future, float("-inf"))


class TextDecoder(nn.Module):
    """Tokens + cache + audio keys/values -> logits, grown cache, alignment-head weights."""

    def __init__(
        self, n_vocab: int, n_ctx: int, n_state: int, n_head: int, n_layer: int,
        alignment_heads: Sequence[tuple[int, int]],
    ) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(n_vocab, n_state)
        self.positional_embedding = nn.Parameter(torch.zeros(n_ctx, n_state))
        self.blocks = nn.ModuleList(DecoderBlock(n_state, n_head) for _ in range(n_layer))
        self.ln = nn.LayerNorm(n_state)
        self.alignment_heads = tuple((int(layer), int(head)) for layer, head in alignment_heads)

    def forward(
        self, tokens: Tensor, self_k: Tensor, self_v: Tensor, cross_k: Tensor, cross_v: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """tokens [b, n]; self_k/v [layers, b, n_past, d]; cross_k/v [layers, b, n_audio, d]."""
        return self.run(self.token_embedding.weight.t(), tokens, self_k, self_v, cross_k, cross_v)

    def run(
        self, embedding_t: Tensor, tokens: Tensor, self_k: Tensor, self_v: Tensor,
        cross_k: Tensor, cross_v: Tensor,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """forward() with the tied token embedding given transposed, [d, n_vocab].

        The decoder graph passes W^T as its own constant: logits = x @ W^T is then a MatMul
        with a constant right-hand operand, which ONNX Runtime prepacks and the int8 quantizer
        quantizes per vocabulary entry, and the token lookup gathers its columns, so the graph
        still stores the weight once. W @ x^T (W on the left) took 20 of the 28 ms of a tiny.en
        decoder step on one CPU thread; x @ W^T takes about 5.
        """
        n_past = self_k.shape[2]
        batch, n_tokens = tokens.shape[0], tokens.shape[1]
        embedded = embedding_t.index_select(1, tokens.reshape(-1)).t().reshape(batch, n_tokens, -1)
        x = embedded + self.positional_embedding[n_past : n_past + n_tokens]
        mask = causal_mask(n_tokens, n_past)
        new_k, new_v, cross_weights = [], [], []
        for i, block in enumerate(self.blocks):
            x, keys, values, weights = block(x, self_k[i], self_v[i], cross_k[i], cross_v[i], mask)
            new_k.append(keys)
            new_v.append(values)
            cross_weights.append(weights)
        x = self.ln(x)
        logits = (x @ embedding_t).float()
        alignment = torch.stack(
            [cross_weights[layer][:, head] for layer, head in self.alignment_heads], dim=1
        )
        return logits, torch.stack(new_k), torch.stack(new_v), alignment


class Whisper(nn.Module):
    """Encoder + decoder; `cross_kv` is the once-per-utterance step the encoder graph ends with."""

    def __init__(
        self, dims: ModelDimensions, alignment_heads: Sequence[tuple[int, int]] | None = None
    ) -> None:
        super().__init__()
        self.dims = dims
        heads = default_alignment_heads(dims) if alignment_heads is None else alignment_heads
        for layer, head in heads:
            if not (0 <= layer < dims.n_text_layer and 0 <= head < dims.n_text_head):
                raise ValueError(f"alignment head ({layer}, {head}) is outside the decoder")
        if not heads:
            raise ValueError("at least one alignment head is needed")
        self.encoder = AudioEncoder(
            dims.n_mels, dims.n_audio_ctx, dims.n_audio_state, dims.n_audio_head,
            dims.n_audio_layer,
        )
        self.decoder = TextDecoder(
            dims.n_vocab, dims.n_text_ctx, dims.n_text_state, dims.n_text_head, dims.n_text_layer,
            heads,
        )

    def cross_kv(self, audio_features: Tensor) -> tuple[Tensor, Tensor]:
        """Every decoder layer's cross-attention keys and values: 2 x [layers, b, n_audio, d]."""
        blocks = cast(list[DecoderBlock], list(self.decoder.blocks))
        keys = torch.stack([block.cross_attn.key(audio_features) for block in blocks])
        values = torch.stack([block.cross_attn.value(audio_features) for block in blocks])
        return keys, values

    def empty_cache(self, batch: int) -> Tensor:
        """A self-attention cache holding no tokens yet: [layers, batch, 0, d]."""
        return torch.zeros(self.dims.n_text_layer, batch, 0, self.dims.n_text_state)


def build_whisper(
    dims: ModelDimensions,
    state_dict: Mapping[str, np.ndarray],
    alignment_heads: Sequence[tuple[int, int]] | None = None,
) -> Whisper:
    """A float32 module in eval mode holding exactly the given weights."""
    model = Whisper(dims, alignment_heads)
    tensors = {name: torch.from_numpy(np.array(value, dtype=np.float32))
               for name, value in state_dict.items()}
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        raise WeightsError(f"weights do not fit a Whisper with {dims}: {err}") from err
    return model.eval()
