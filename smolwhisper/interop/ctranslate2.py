"""Read (and, for tests, write) CTranslate2's `model.bin` without importing ctranslate2.

The layout is the one `ctranslate2/specs/model_spec.py` (`ModelSpec._serialize`) writes,
binary version 6, all integers little-endian:

    uint32 version | string spec_name | uint32 revision | uint32 n_variables
    n_variables x ( string name | uint8 rank | uint32 dims[rank] | uint8 dtype_id
                    | uint32 n_bytes | n_bytes of raw row-major data )
    uint32 n_aliases | n_aliases x ( string alias | string target )

where a string is a uint16 length (counting a trailing NUL), the UTF-8 bytes, then the NUL.
Duplicated variables (a tied output projection) are stored once and aliased.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

SUPPORTED_VERSIONS = (6,)  # the version model_spec.py writes (CURRENT_BINARY_VERSION)
# Type ids are indices into this tuple, as in model_spec._dtype_to_type_id.
DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


class CT2FormatError(ValueError):
    """A model.bin that does not follow the layout above; names the file, offset and variable."""


@dataclass
class CT2Model:
    spec_name: str  # e.g. "WhisperSpec"
    revision: int  # the spec's revision (3 for WhisperSpec in ctranslate2 4.x)
    variables: dict[str, np.ndarray]
    aliases: dict[str, str]  # alias name -> stored variable name

    def __getitem__(self, name: str) -> np.ndarray:
        return self.variables[self.aliases.get(name, name)]

    def __contains__(self, name: str) -> bool:
        return name in self.variables or name in self.aliases

    def names(self) -> list[str]:
        return sorted([*self.variables, *self.aliases])


class _Reader:
    def __init__(self, data: bytes, path: str):
        self.data, self.path, self.offset = data, path, 0

    def fail(self, what: str) -> CT2FormatError:
        return CT2FormatError(f"{self.path}: at byte offset {self.offset}: {what}")

    def take(self, n_bytes: int, what: str) -> memoryview:
        end = self.offset + n_bytes
        if end > len(self.data):
            raise self.fail(f"file truncated while reading {what}: needs {n_bytes} bytes, "
                            f"{len(self.data) - self.offset} left")
        view = memoryview(self.data)[self.offset:end]
        self.offset = end
        return view

    def uint(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        length = self.uint("H", f"the length of {what}")
        raw = bytes(self.take(length, what))
        if length == 0 or raw[-1] != 0:
            raise self.fail(f"{what} is not NUL-terminated")
        return raw[:-1].decode("utf-8")


def _array(raw: memoryview, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    if dtype == "bfloat16":  # numpy has no bfloat16: widen its 16 bits into float32's top half
        return (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32).reshape(shape)
    return np.frombuffer(raw, "<" + np.dtype(dtype).str[1:]).reshape(shape)


def read_model_bin(path: str | PathLike) -> CT2Model:
    """Parse a CTranslate2 model.bin into numpy arrays (read-only views of the file's bytes)."""
    path = Path(path)
    reader = _Reader(path.read_bytes(), str(path))
    version = reader.uint("I", "the binary version")
    if version not in SUPPORTED_VERSIONS:
        reader.offset = 0
        raise reader.fail(f"binary version {version} is not supported (supported: "
                          f"{', '.join(map(str, SUPPORTED_VERSIONS))})")
    spec_name = reader.string("the spec name")
    revision = reader.uint("I", "the spec revision")
    n_variables = reader.uint("I", "the number of variables")
    variables: dict[str, np.ndarray] = {}
    for index in range(n_variables):
        name = reader.string(f"the name of variable #{index}")
        rank = reader.uint("B", f"the rank of {name!r}")
        shape = tuple(reader.uint("I", f"dimension {d} of {name!r}") for d in range(rank))
        type_id = reader.uint("B", f"the dtype of {name!r}")
        if type_id >= len(DTYPES):
            reader.offset -= 1
            raise reader.fail(f"variable {name!r} has unknown dtype id {type_id} "
                              f"(known: {', '.join(f'{i}={d}' for i, d in enumerate(DTYPES))})")
        dtype = DTYPES[type_id]
        n_bytes = reader.uint("I", f"the byte count of {name!r}")
        expected = int(np.prod(shape, dtype=np.int64)) * (2 if dtype == "bfloat16" else np.dtype(dtype).itemsize)
        if n_bytes != expected:
            reader.offset -= 4
            raise reader.fail(f"variable {name!r} of shape {shape} and dtype {dtype} should hold "
                              f"{expected} bytes, the file says {n_bytes}")
        variables[name] = _array(reader.take(n_bytes, f"the data of {name!r}"), dtype, shape)
    n_aliases = reader.uint("I", "the number of aliases")
    aliases = {}
    for index in range(n_aliases):
        alias = reader.string(f"the name of alias #{index}")
        target = reader.string(f"the target of alias {alias!r}")
        if target not in variables:
            raise reader.fail(f"alias {alias!r} points at {target!r}, which is not a stored variable")
        aliases[alias] = target
    if reader.offset != len(reader.data):
        raise reader.fail(f"{len(reader.data) - reader.offset} unexpected bytes after the aliases")
    return CT2Model(spec_name, revision, variables, aliases)


def write_model_bin(path: str | PathLike, model: CT2Model, version: int = 6) -> None:
    """The inverse of `read_model_bin` (model_spec.py's `_serialize`), for tests and round trips."""

    def string(text: str) -> bytes:
        raw = text.encode("utf-8")
        return struct.pack("<H", len(raw) + 1) + raw + b"\0"

    parts = [struct.pack("<I", version), string(model.spec_name),
             struct.pack("<II", model.revision, len(model.variables))]
    for name, array in sorted(model.variables.items()):
        array = np.asarray(array, order="C")  # (ascontiguousarray would make scalars 1-d)
        parts += [string(name), struct.pack("<B", array.ndim), struct.pack(f"<{array.ndim}I", *array.shape),
                  struct.pack("<BI", DTYPES.index(array.dtype.name), array.nbytes), array.tobytes()]
    parts.append(struct.pack("<I", len(model.aliases)))
    for alias, target in sorted(model.aliases.items()):
        parts += [string(alias), string(target)]
    Path(path).write_bytes(b"".join(parts))
