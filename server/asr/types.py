"""What the Whisper engine takes and gives: request options, recognised words and segments."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voxserve.server.errors import InvalidArgument

if TYPE_CHECKING:
    from voxserve.server.asr.language_id import LanguageRanking


@dataclass(frozen=True)
class TranscribeOptions:
    """Per-request settings; `None` means the model's default."""

    # None: the model's default (.en) or detected (multilingual); "en-US" is read as "en"
    language: str | None = None
    # With `language` None: the languages detection may choose from (BCP-47, read by primary
    # subtag); empty: all the model knows.
    language_codes: tuple[str, ...] = ()
    # Whisper's translate task: English text whatever the spoken language (multilingual models).
    translate: bool = False
    word_timestamps: bool = False
    without_timestamps: bool = False  # fast path for interim results: no timestamp tokens
    # Re-decode at rising temperatures when the greedy text is a loop or improbable (whisper's
    # default). Off for interim results: each retry costs a whole decode, and a newer interim
    # or the final soon replaces the text anyway.
    temperature_fallback: bool = True
    # Tentative text (interim results): a loop (a block of words said a third time in a row:
    # decoding stops there) or a block said twice at the end is cut before its second saying,
    # and the short encoder window's result then stands, never decoded again padded to 30 s.
    # On real speech a short window loops in about a third of interim prefixes (asterisk
    # prompts, issue #11); cut, each costs a few tokens instead of a whole token budget plus a
    # 30 s window. A block said twice and followed by other words may be speech ("No, no,
    # thanks"): that window is decoded again padded to 30 s, as a final's is. Off for finals
    # and Recognize, where the 30 s window keeps a real repetition and drops an invented one;
    # only an echo heard nowhere (asr/echoes.py) is cut from their short window instead.
    cut_repeats: bool = False
    # Give each 30 s window the text of the windows before as a prompt (whisper's
    # condition_on_previous_text).
    condition_on_previous_text: bool = False
    max_initial_timestamp_s: float = 1.0
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4

    def __post_init__(self) -> None:
        if self.language is not None and not self.language.strip():
            raise InvalidArgument("language must be a language code or None")
        if self.language is not None and self.language_codes:
            raise InvalidArgument(
                "language_code and language_codes exclude each other: set language_code to "
                "force one language, or language_codes to detect among candidates",
                field="config.language_codes",
            )
        if not (0.0 <= self.max_initial_timestamp_s <= 30.0):
            raise InvalidArgument("max_initial_timestamp_s must lie in [0, 30]")
        if not (0.0 <= self.no_speech_threshold <= 1.0):
            raise InvalidArgument("no_speech_threshold must lie in [0, 1]")
        if not (math.isfinite(self.log_prob_threshold) and self.log_prob_threshold <= 0.0):
            raise InvalidArgument("log_prob_threshold must be a finite value <= 0")
        if not (math.isfinite(self.compression_ratio_threshold)
                and self.compression_ratio_threshold > 0.0):
            raise InvalidArgument("compression_ratio_threshold must be a finite value > 0")


@dataclass(frozen=True)
class Word:
    """One recognised word with its time span in the audio."""

    word: str
    start_s: float
    end_s: float
    probability: float


@dataclass(frozen=True)
class Segment:
    """A stretch of speech between two timestamp tokens."""

    start_s: float
    end_s: float
    text: str
    avg_logprob: float  # mean log probability of this segment's own text tokens
    no_speech_prob: float  # of the window the segment was decoded in
    words: tuple[Word, ...] = ()
    language: str = ""  # of the window holding the segment (detected per window)
    language_probability: float = 1.0  # 1.0 where the language was set, not detected

    @property
    def confidence(self) -> float:
        """The segment's geometric-mean token probability, in [0, 1]."""
        return confidence([self.avg_logprob])


@dataclass(frozen=True)
class Transcript:
    """Everything recognised in one audio buffer."""

    segments: tuple[Segment, ...]
    language: str  # the first window's: forced, the model's only language, or detected
    duration_s: float
    # The detector's probability of `language` among the candidates; 1.0 where it was not
    # detected (forced or the model's only language); 0.0 when no window held sound.
    language_probability: float = 1.0

    @property
    def text(self) -> str:
        """The segments' text joined with single spaces."""
        return " ".join(s.text.strip() for s in self.segments if s.text.strip()).strip()

    @property
    def confidence(self) -> float:
        """Geometric-mean token probability over the segments that hold text (0.0 for none)."""
        return confidence([s.avg_logprob for s in self.segments if s.text.strip()])


def confidence(avg_logprobs: list[float]) -> float:
    """The one confidence formula: exp of the mean of the segments' average token
    log-probabilities (a geometric-mean token probability), clipped to [0, 1]; 0.0 for none."""
    if not avg_logprobs:
        return 0.0
    return min(1.0, max(0.0, math.exp(sum(avg_logprobs) / len(avg_logprobs))))


@dataclass(frozen=True)
class LanguageIdentification:
    """The spoken language of a recording, ranked on its first window with sound."""

    ranking: LanguageRanking | None  # None: the audio holds no sound
    start_s: float  # the stretch of audio classified: [start_s, end_s)
    end_s: float
    duration_s: float  # of the whole recording


@dataclass(frozen=True)
class RecognizerInfo:
    """What a loaded recognizer is, for model listings."""

    name: str
    language_codes: tuple[str, ...]
    multilingual: bool
    sample_rate_hz: int
    description: str
    execution_provider: str
    variant: str = "float32"  # which graphs run: the float32 export or a variant such as int8
