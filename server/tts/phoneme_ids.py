"""Phonemes to the model's input ids, by the voice's phoneme_id_map (Piper's phoneme_ids.py)."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

from voxserve.server.errors import ModelLoadError

PAD = "_"  # between every two phonemes
BOS = "^"
EOS = "$"

_LOGGER = logging.getLogger(__name__)


class PhonemeIdMap:
    """A voice's phoneme -> ids table, with Piper's optional vowel-cluster merging."""

    def __init__(
        self,
        id_map: Mapping[str, Sequence[int]],
        vowel_clusters: Iterable[Sequence[str]] = (),
    ) -> None:
        for symbol in (PAD, BOS, EOS):
            if symbol not in id_map:
                raise ModelLoadError(f"phoneme_id_map lacks the {symbol!r} symbol")
        self._map = {key: tuple(int(i) for i in ids) for key, ids in id_map.items()}
        self._clusters = frozenset(tuple(cluster) for cluster in vowel_clusters if cluster)

    def ids(self, phonemes: Sequence[str]) -> list[int]:
        """BOS, PAD, then each known phoneme followed by PAD, then EOS; unknown ones skipped."""
        return self.ids_with_positions(phonemes)[0]

    def ids_with_positions(self, phonemes: Sequence[str]) -> tuple[list[int], list[int]]:
        """ids() and, for each phoneme, the index of its first id (or of the id after it, when
        it was skipped), so that durations per id map back to phonemes (word timings)."""
        ids = [*self._map[BOS], *self._map[PAD]]
        positions: list[int] = []
        for size, phoneme in self._merge_clusters_sized(phonemes):
            positions.extend([len(ids)] * size)
            known = self._map.get(phoneme)
            if known is None:
                _LOGGER.debug("phoneme %r is not in the voice's map; skipped", phoneme)
                continue
            ids.extend(known)
            ids.extend(self._map[PAD])
        ids.extend(self._map[EOS])
        return ids, positions

    def speakable(self, phonemes: Sequence[str]) -> bool:
        """True when some known phoneme is a sound (a letter or mark), not only punctuation."""
        return any(
            phoneme in self._map and unicodedata.category(phoneme[0])[0] in "LM"
            for phoneme in phonemes
        )

    def _merge_clusters_sized(self, phonemes: Sequence[str]) -> list[tuple[int, str]]:
        """Join runs listed in vowel_clusters into one phoneme, longest first; each with the
        number of input phonemes it stands for."""
        if not self._clusters:
            return [(1, phoneme) for phoneme in phonemes]
        longest = max(len(cluster) for cluster in self._clusters)
        out: list[tuple[int, str]] = []
        i = 0
        while i < len(phonemes):
            for size in range(min(longest, len(phonemes) - i), 1, -1):
                candidate = tuple(phonemes[i : i + size])
                if candidate in self._clusters:
                    out.append((size, "".join(candidate)))
                    i += size
                    break
            else:
                out.append((1, phonemes[i]))
                i += 1
        return out
