"""SplitVits: a Piper voice's split graphs (export/piper_split.py) on ONNX Runtime.

The encoder gives each phoneme id its duration in frames and the prior (m_p, logs_p) per frame;
the prior sample z_p = m_p + noise * exp(logs_p) * noise_scale is drawn here, from a generator
the caller seeds; the flow turns z_p into z over the whole unit, and the vocoder (HiFi-GAN) turns
frames of z into audio, over any window of frames given a little context on each side. Voices
imported before the flow was cut out have one decoder graph (flow + HiFi-GAN) that takes z_p and
needs the flow's reach as context too. Shared by all requests: the sessions are thread-safe and
nothing per request is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from voxserve.server.runtime import run

# HiFi-GAN's receptive field in frames: conv_pre (kernel 7) 3, the first upsampling about 1, and
# the first stage's resblocks (8 samples a frame) up to 60 samples for Piper's "high" voices
# (kernel 11, dilations 1, 3, 5), 45 for "medium" (kernel 7, dilations 3, 12), 7.5 or 5.6 more;
# the later stages add about 1. With 12 frames of context a window of joe-medium's vocoder gives
# the whole run's audio to within 2.4e-7 (8: 1.4e-4); 16 keeps a margin.
VOCODER_CONTEXT_FRAMES = 16
# The flow's receptive field: 4 coupling layers, each a WaveNet of 4 convolutions of kernel 5
# (Piper's VITS hyper-parameters), reach 4 x 4 x 2 = 32 frames to each side; with that much
# context a window of a decoder graph holding the flow matches the whole run's audio to within
# 4e-5 (measured on joe-medium).
DECODER_CONTEXT_FRAMES = 32
# A first unit decodes in windows of 32 frames (0.37 s at 22050 Hz), then 4x longer each: each
# window is made well before the audio already sent has played (decoding runs at 0.05-0.15x
# real time on 2 cores), and a long unit still takes few windows, each costing 2 x 16 frames of
# context on top (2 x 32 with a decoder graph). Windowing the vocoder alone, the flow run once
# over the unit, took a 5-word first unit (137 frames) from 87 to 67 ms CPU, whole 59 ms.
FIRST_WINDOW_FRAMES = 32
WINDOW_GROWTH = 4
# A streamed unit's runs up to these sizes keep what they grew the sessions' CPU arenas by; other
# runs shrink them (`shrink_arena`, see runtime.run). A stream's first windows and short units
# are many small runs (a 9-word sentence: decoder runs of 64, 145 and 118 frames), and shrinking
# after each cost them 25-35 % more CPU, the arena regrown every time; what they keep is bounded:
# a vocoder (or decoder) run of 160 frames grows the arena by about 45 MiB, 64 frames 21 MiB,
# until the next run that shrinks it. Sentences (Synthesize) always shrink it: 4 concurrent
# calls ending on short sentences kept +189 MiB otherwise.
KEPT_ARENA_FRAMES = 160
KEPT_ARENA_IDS = 160
ENCODER_INPUTS = ("input", "input_lengths", "scales", "duration_noise")
FLOW_INPUTS = ("z_p", "y_mask")
VOCODER_INPUTS = ("z",)
DECODER_INPUTS = ("z_p", "y_mask")


@dataclass(frozen=True)
class Latent:
    """One unit before the vocoder: frames per phoneme id and the vocoder's input per frame,
    z (after the flow) or, for a decoder graph holding the flow, the prior sample z_p."""

    durations: np.ndarray  # int64 [ids]: frames each phoneme id lasts
    z: np.ndarray  # float32 [1, channels, frames]
    speaker_id: int | None

    @property
    def frames(self) -> int:
        return int(self.z.shape[2])


class SplitVits:
    """The encoder, flow and vocoder sessions of one voice (or encoder and decoder)."""

    def __init__(self, encoder: ort.InferenceSession, vocoder: ort.InferenceSession,
                 shrink_arena: bool = False, flow: ort.InferenceSession | None = None) -> None:
        """`flow` None: `vocoder` is a decoder graph (flow + HiFi-GAN) taking z_p."""
        self._encoder = encoder
        self._flow = flow
        self._vocoder = vocoder
        self._shrink_arena = shrink_arena  # for large runs, see runtime.run
        self._speakers = any(i.name == "sid" for i in encoder.get_inputs())
        self._context = DECODER_CONTEXT_FRAMES if flow is None else VOCODER_CONTEXT_FRAMES

    @property
    def encoder(self) -> ort.InferenceSession:
        return self._encoder

    @staticmethod
    def missing_inputs(encoder: ort.InferenceSession, vocoder: ort.InferenceSession,
                       flow: ort.InferenceSession | None = None) -> list[str]:
        """Inputs the engine feeds that these graphs lack (empty when they fit)."""
        graphs: list[tuple[str, ort.InferenceSession, tuple[str, ...]]] = [
            ("encoder", encoder, ENCODER_INPUTS)]
        graphs += [("decoder", vocoder, DECODER_INPUTS)] if flow is None else \
            [("flow", flow, FLOW_INPUTS), ("vocoder", vocoder, VOCODER_INPUTS)]
        return [f"{name}:{n}" for name, session, inputs in graphs
                for n in inputs if n not in {i.name for i in session.get_inputs()}]

    def encode(self, ids: list[int], scales: tuple[float, float, float],
               speaker_id: int | None, rng: np.random.Generator, streamed: bool = False
               ) -> Latent:
        """Phoneme ids -> durations and the vocoder's input (Latent); `scales` is
        (noise_scale, length_scale, noise_w); `streamed`: a streamed unit's (see
        KEPT_ARENA_IDS)."""
        feeds = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array(scales, dtype=np.float32),
            # the duration predictor's noise is drawn first, then the prior's: one generator
            "duration_noise": rng.standard_normal((1, 2, len(ids)), dtype=np.float32),
        }
        durations, m_p, logs_p = self._run(self._encoder, self._with_speaker(feeds, speaker_id),
                                           streamed and len(ids) <= KEPT_ARENA_IDS)
        noise = rng.standard_normal(m_p.shape, dtype=np.float32)
        z_p = np.asarray(m_p + noise * np.exp(logs_p) * np.float32(scales[0]), dtype=np.float32)
        z = z_p  # a decoder graph runs the flow itself
        if self._flow is not None:
            flow_feeds = self._with_speaker(
                {"z_p": z_p, "y_mask": np.ones((1, 1, z_p.shape[2]), dtype=np.float32)},
                speaker_id)
            keep = streamed and z_p.shape[2] <= KEPT_ARENA_FRAMES
            z = np.asarray(self._run(self._flow, flow_feeds, keep)[0], dtype=np.float32)
        return Latent(
            durations=np.asarray(durations, dtype=np.float32).reshape(-1).astype(np.int64),
            z=z,
            speaker_id=speaker_id,
        )

    def decode(self, latent: Latent, start: int, end: int, streamed: bool = False
               ) -> np.ndarray:
        """Audio of frames [start, end) of the latent, float32, as the model makes it;
        `streamed`: a streamed unit's window (see KEPT_ARENA_FRAMES)."""
        low = max(0, start - self._context)
        high = min(latent.frames, end + self._context)
        window = latent.z[:, :, low:high]
        feeds: dict[str, object] = {"z": window} if self._flow is not None else \
            {"z_p": window, "y_mask": np.ones((1, 1, high - low), dtype=np.float32)}
        output = self._run(self._vocoder, self._with_speaker(feeds, latent.speaker_id),
                           streamed and high - low <= KEPT_ARENA_FRAMES)[0]
        audio = np.asarray(output, dtype=np.float32).reshape(-1)
        hop = audio.size // (high - low)  # samples per frame: 256 for Piper's voices
        return audio[(start - low) * hop : (end - low) * hop]

    def _with_speaker(self, feeds: dict[str, object], speaker_id: int | None
                      ) -> dict[str, object]:
        if self._speakers:
            feeds["sid"] = np.array([speaker_id or 0], dtype=np.int64)
        return feeds

    def _run(self, session: ort.InferenceSession, feeds: Mapping[str, object], keep: bool
             ) -> list[np.ndarray]:
        """One session run; unless `keep`, it shrinks the arena after it and trims the C heap."""
        return run(session, None, feeds, shrink_arena=self._shrink_arena and not keep)


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
