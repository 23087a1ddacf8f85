"""CTranslate2 `model.bin`: the binary layout of a converted model's named variables.

Layout (little-endian, written by ctranslate2's `ModelSpec._serialize`, binary version 6):
u32 version, str spec name, u32 spec revision, u32 variable count, then per variable: str name,
u8 rank, u32 dims[rank], u8 dtype id, u32 byte size, data; then u32 alias count and (str alias,
str target) pairs. A str is a u16 length counting a trailing NUL, the UTF-8 bytes and the NUL.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voxserve.export.errors import WeightsError

SUPPORTED_BINARY_VERSION = 6

# ctranslate2 include/ctranslate2/types.h DataType order; bfloat16 (5) has no numpy dtype
_DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
}


@dataclass(frozen=True)
class Ct2Model:
    """The variables of one model.bin; aliases name variables stored once under another name."""

    binary_version: int
    spec_name: str
    spec_revision: int
    variables: Mapping[str, np.ndarray]
    aliases: Mapping[str, str]

    def get(self, name: str) -> np.ndarray:
        """The variable called `name`, following an alias; WeightsError if absent."""
        target = self.aliases.get(name, name)
        if target not in self.variables:
            raise WeightsError(f"CTranslate2 model has no variable {name!r}")
        return self.variables[target]

    def scalar(self, name: str) -> int:
        """An integer scalar variable (head counts, flags)."""
        value = self.get(name)
        if value.shape != ():
            raise WeightsError(f"CTranslate2 variable {name!r} is not a scalar: {value.shape}")
        return int(value)


class _Reader:
    """Bounds-checked cursor over the bytes of a model.bin."""

    def __init__(self, data: memoryview, source: str) -> None:
        self._data = data
        self._pos = 0
        self._source = source

    def take(self, n_bytes: int, what: str) -> memoryview:
        end = self._pos + n_bytes
        if end > len(self._data):
            raise WeightsError(
                f"{self._source} is truncated: {what} needs {n_bytes} bytes at offset "
                f"{self._pos}, file has {len(self._data)}"
            )
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def unpack(self, fmt: str, what: str) -> int:
        return int(struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0])

    def string(self, what: str) -> str:
        n_bytes = self.unpack("H", what)
        raw = bytes(self.take(n_bytes, what))
        if n_bytes == 0 or raw[-1] != 0:
            raise WeightsError(f"{self._source} is corrupt: {what} is not NUL-terminated")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as err:
            raise WeightsError(f"{self._source} is corrupt: {what} is not UTF-8") from err

    def at_end(self) -> bool:
        return self._pos == len(self._data)


def read_ct2_model(parts: Sequence[Path]) -> Ct2Model:
    """Parse a model.bin given as one file or as split parts to be joined in order."""
    if not parts:
        raise WeightsError("no model.bin file given")
    for part in parts:
        if not part.is_file():
            raise WeightsError(f"CTranslate2 weights file {part} does not exist")
    data = parts[0].read_bytes() if len(parts) == 1 else b"".join(p.read_bytes() for p in parts)
    return parse_ct2_bytes(data, source=str(parts[0]))


def parse_ct2_bytes(data: bytes, source: str = "model.bin") -> Ct2Model:
    """Parse the bytes of a model.bin; arrays are read-only views into `data`."""
    reader = _Reader(memoryview(data), source)
    version = reader.unpack("I", "binary version")
    if version != SUPPORTED_BINARY_VERSION:
        raise WeightsError(
            f"{source}: CTranslate2 binary version {version} is not supported "
            f"(this reader knows version {SUPPORTED_BINARY_VERSION})"
        )
    spec_name = reader.string("spec name")
    spec_revision = reader.unpack("I", "spec revision")
    variables = {}
    for index in range(reader.unpack("I", "variable count")):
        name, value = _read_variable(reader, index, source)
        variables[name] = value
    aliases = {}
    for index in range(reader.unpack("I", "alias count")):
        alias = reader.string(f"alias {index} name")
        aliases[alias] = reader.string(f"alias {index} target")
    if not reader.at_end():
        raise WeightsError(f"{source} is corrupt: trailing bytes after the aliases")
    return Ct2Model(version, spec_name, spec_revision, variables, aliases)


def _read_variable(reader: _Reader, index: int, source: str) -> tuple[str, np.ndarray]:
    name = reader.string(f"variable {index} name")
    rank = reader.unpack("B", f"rank of {name}")
    shape = tuple(reader.unpack("I", f"shape of {name}") for _ in range(rank))
    dtype_id = reader.unpack("B", f"dtype of {name}")
    n_bytes = reader.unpack("I", f"size of {name}")
    if dtype_id not in _DTYPES:
        raise WeightsError(f"{source}: variable {name!r} has unsupported dtype id {dtype_id}")
    dtype = _DTYPES[dtype_id]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if n_bytes != expected:
        raise WeightsError(
            f"{source} is corrupt: {name!r} {shape} {dtype} should hold {expected} bytes, "
            f"header says {n_bytes}"
        )
    raw = reader.take(n_bytes, f"data of {name}")
    return name, np.frombuffer(raw, dtype=dtype).reshape(shape)
