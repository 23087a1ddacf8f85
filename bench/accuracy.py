"""Recognition accuracy on real human speech: WER, time and echoes of each engine over a corpus."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.realspeech import Clip, asterisk_all, shared_clips
from bench.scoring import echoes, wer


@dataclass
class Score:
    """One engine over a corpus: what it heard, how long it took, where it echoed."""

    engine: str
    hypotheses: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu_s: float = 0.0
    echoed: dict[str, list[str]] = field(default_factory=dict)  # clip -> repeated blocks


@dataclass(frozen=True)
class Heard:
    """One transcription, as an engine adapter reports it."""

    text: str
    seconds: float
    cpu_s: float


def corpus(name: str) -> list[Clip]:
    """"asterisk": every speech prompt of asterisk-en (563); "shared": the English recordings
    of ../shared/speech with exact texts (jfk, each channel of stereo_diarization)."""
    return asterisk_all() if name == "asterisk" else shared_clips()


def score(engines: Sequence[tuple[str, Callable[[Clip], Heard]]],
          clips: Sequence[Clip]) -> list[Score]:
    """Every engine on every clip, engines taking turns clip by clip (background load hits
    them alike)."""
    scores = [Score(name) for name, _ in engines]
    for clip in clips:
        for (_, transcribe), result in zip(engines, scores, strict=True):
            heard = transcribe(clip)
            result.hypotheses.append(heard.text)
            result.seconds += heard.seconds
            result.cpu_s += heard.cpu_s
            repeated = echoes(clip.text, heard.text)
            if repeated:
                result.echoed[clip.name] = sorted(set(repeated), key=len)
    return scores


def rows(scores: Sequence[Score], clips: Sequence[Clip]) -> list[list[object]]:
    """Table rows: engine, WER %, echo files, seconds, CPU seconds, RTF."""
    references = [c.text for c in clips]
    audio_s = sum(c.duration_s for c in clips)
    return [[s.engine, f"{100 * wer(references, s.hypotheses):.2f}", len(s.echoed),
             round(s.seconds, 1), round(s.cpu_s, 1), round(s.seconds / audio_s, 4)]
            for s in scores]


HEADERS = ["engine", "WER %", "files with echoes", "s", "CPU s", "RTF"]
