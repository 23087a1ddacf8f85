"""SplitVits: a Piper voice's encoder and decoder graphs (export/piper_split.py) on ONNX Runtime.

The encoder gives each phoneme id its duration in frames and the prior (m_p, logs_p) per frame;
the prior sample z_p = m_p + noise * exp(logs_p) * noise_scale is drawn here, from a generator
the caller seeds; the decoder (flow + HiFi-GAN) turns frames of z_p into audio and runs over any
window of frames given enough context on each side. Shared by all requests: the sessions are
thread-safe and nothing per request is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from voxserve.server.runtime import release_freed_memory, run

# The flow's receptive field: 4 coupling layers, each a WaveNet of 4 convolutions of kernel 5
# (Piper's VITS hyper-parameters), reach 4 x 4 x 2 = 32 frames to each side; with that much
# context a window's audio matches the whole run's to within 4e-5 (measured on joe-medium).
CONTEXT_FRAMES = 32
# A first unit decodes in windows of 32 frames (0.37 s at 22050 Hz), then 4x longer each: each
# window is made well before the audio already sent has played (decoding runs at 0.05-0.15x
# real time on 2 cores), and a long unit still takes few windows, each costing 2 x 32 frames of
# context on top.
FIRST_WINDOW_FRAMES = 32
WINDOW_GROWTH = 4
# A streamed unit's runs up to these sizes keep what they grew the sessions' CPU arenas by; other
# runs shrink them (`shrink_arena`, see runtime.run). A stream's first windows and short units
# are many small runs (a 9-word sentence: decoder runs of 64, 145 and 118 frames), and shrinking
# after each cost them 25-35 % more CPU, the arena regrown every time; what they keep is bounded: a
# decoder run of 160 frames with context grows the arena by about 50 MiB, 64 frames by 21 MiB,
# until the next run that shrinks it. Sentences (Synthesize) always shrink it: 4 concurrent
# calls ending on short sentences kept +189 MiB otherwise.
KEPT_ARENA_FRAMES = 160
KEPT_ARENA_IDS = 160
ENCODER_INPUTS = ("input", "input_lengths", "scales", "duration_noise")
DECODER_INPUTS = ("z_p", "y_mask")


@dataclass(frozen=True)
class Latent:
    """One unit through the encoder: frames per phoneme id and the prior sample z_p."""

    durations: np.ndarray  # int64 [ids]: frames each phoneme id lasts
    z_p: np.ndarray  # float32 [1, channels, frames]
    speaker_id: int | None

    @property
    def frames(self) -> int:
        return int(self.z_p.shape[2])


class SplitVits:
    """The encoder and decoder sessions of one voice."""

    def __init__(self, encoder: ort.InferenceSession, decoder: ort.InferenceSession,
                 shrink_arena: bool = False) -> None:
        self._encoder = encoder
        self._decoder = decoder
        self._shrink_arena = shrink_arena  # for large runs, see runtime.run
        self._speakers = any(i.name == "sid" for i in encoder.get_inputs())

    @staticmethod
    def missing_inputs(encoder: ort.InferenceSession, decoder: ort.InferenceSession
                       ) -> list[str]:
        """Inputs the engine feeds that these graphs lack (empty when they fit)."""
        have_encoder = {i.name for i in encoder.get_inputs()}
        have_decoder = {i.name for i in decoder.get_inputs()}
        return [f"encoder:{n}" for n in ENCODER_INPUTS if n not in have_encoder] + \
            [f"decoder:{n}" for n in DECODER_INPUTS if n not in have_decoder]

    def encode(self, ids: list[int], scales: tuple[float, float, float],
               speaker_id: int | None, rng: np.random.Generator, streamed: bool = False
               ) -> Latent:
        """Phoneme ids -> durations and z_p; `scales` is (noise_scale, length_scale, noise_w);
        `streamed`: a streamed unit's (see KEPT_ARENA_IDS)."""
        feeds = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array(scales, dtype=np.float32),
            # the duration predictor's noise is drawn first, then the prior's: one generator
            "duration_noise": rng.standard_normal((1, 2, len(ids)), dtype=np.float32),
        }
        if self._speakers:
            feeds["sid"] = np.array([speaker_id or 0], dtype=np.int64)
        durations, m_p, logs_p = self._run(self._encoder, feeds,
                                           streamed and len(ids) <= KEPT_ARENA_IDS)
        noise = rng.standard_normal(m_p.shape, dtype=np.float32)
        z_p = m_p + noise * np.exp(logs_p) * np.float32(scales[0])
        return Latent(
            durations=np.asarray(durations, dtype=np.float32).reshape(-1).astype(np.int64),
            z_p=np.asarray(z_p, dtype=np.float32),
            speaker_id=speaker_id,
        )

    def decode(self, latent: Latent, start: int, end: int, streamed: bool = False
               ) -> np.ndarray:
        """Audio of frames [start, end) of the latent, float32, as the model makes it;
        `streamed`: a streamed unit's window (see KEPT_ARENA_FRAMES)."""
        low = max(0, start - CONTEXT_FRAMES)
        high = min(latent.frames, end + CONTEXT_FRAMES)
        window = latent.z_p[:, :, low:high]
        feeds = {"z_p": window, "y_mask": np.ones((1, 1, high - low), dtype=np.float32)}
        if self._speakers:
            feeds["sid"] = np.array([latent.speaker_id or 0], dtype=np.int64)
        output = self._run(self._decoder, feeds,
                           streamed and high - low <= KEPT_ARENA_FRAMES)[0]
        audio = np.asarray(output, dtype=np.float32).reshape(-1)
        hop = audio.size // (high - low)  # samples per frame: 256 for Piper's voices
        return audio[(start - low) * hop : (end - low) * hop]


    def _run(self, session: ort.InferenceSession, feeds: Mapping[str, object], keep: bool
             ) -> list[np.ndarray]:
        """One session run; unless `keep`, it shrinks the arena after it and trims the C heap."""
        shrink = self._shrink_arena and not keep
        try:
            return run(session, None, feeds, shrink_arena=shrink)
        finally:
            if shrink:
                release_freed_memory()


def windows(frames: int, first: bool) -> tuple[tuple[int, int], ...]:
    """[start, end) frame windows covering a unit: one window unless it is a first unit."""
    if not first:
        return ((0, frames),)
    spans: list[tuple[int, int]] = []
    start, size = 0, FIRST_WINDOW_FRAMES
    while start < frames:
        end = min(frames, start + size)
        if frames - end < size:  # a last window shorter than this one: merge it in
            end = frames
        spans.append((start, end))
        start, size = end, size * WINDOW_GROWTH
    return tuple(spans)
