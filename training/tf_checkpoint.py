"""Read a TensorFlow checkpoint (the tensor-bundle format every `tf.train.Saver` and `tf.train.Checkpoint`
writes since TF 1.0) without TensorFlow: pure Python and numpy.

A checkpoint `PREFIX` is two kinds of file:

    PREFIX.index                     a table of (variable name -> where its bytes are), see below
    PREFIX.data-00000-of-0000N       the tensors' raw bytes, little-endian, one shard or more

The index is a LevelDB-format table (TF's own copy of it, tensorflow/core/lib/io/table*): data blocks of
key/value entries whose keys share prefixes with the entry before (each block's restart points store a key
whole), an index block pointing at the data blocks, a metaindex block (empty here), then a 48-byte footer
(the two blocks' handles and a magic number). Every block is followed by its compression type (TF writes
none) and a masked CRC-32C. Each value is a protobuf message: the entry with the empty key is the
BundleHeaderProto (shard count, endianness), every other one a BundleEntryProto (dtype, shape, shard,
offset, size, the masked CRC-32C of the tensor's bytes). The few protobuf fields needed are decoded by hand.

Everything is checked: the footer's magic, every index block's checksum, every value's fields, and a
tensor's byte count against its dtype and shape and, when it is read, its bytes against its checksum. A
damaged or truncated file is a `WeightsError` that says which file and what is wrong, never a crash deep
in numpy. Partitioned variables (stored as slices) and string tensors are listed but cannot be read.

    bundle = TensorBundle("ckpt/UGATIT.model-1000000")   # or the .index / .data file, or the folder
    bundle.entries["generator_B/conv/conv2d/kernel"].shape   # (7, 7, 3, 64)
    bundle.read("generator_B/conv/conv2d/kernel")            # a numpy array
"""
from __future__ import annotations

import functools
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from translator.errors import WeightsError

TABLE_MAGIC = 0xDB4775248B80FB57  # LevelDB's, kept by TF's table format
FOOTER_SIZE = 48  # two block handles, zero-padded to 40 bytes, then the 8-byte magic
BLOCK_TRAILER = 5  # compression type (1 byte), masked CRC-32C (4 bytes)

# TF's DataType enum (tensorflow/core/framework/types.proto) -> numpy, for the types stored as plain arrays
DTYPES = {1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 9: "int64", 10: "bool",
          17: "uint16", 19: "float16", 22: "uint32", 23: "uint64", 8: "complex64", 18: "complex128"}
DTYPE_NAMES = {7: "string", 14: "bfloat16", 20: "resource", 21: "variant"}  # known, but not plain arrays
BFLOAT16 = 14  # read as float32 (its bits are a float32's upper half)

DATA_FILE = re.compile(r"^(?P<prefix>.+)\.data-\d{5}-of-\d{5}$")


# --- CRC-32C (Castagnoli), as TF checksums its tables and tensors ------------------------------------------
def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _crc_table()
CRC_TABLE_NP = np.array(CRC_TABLE, dtype=np.uint32)


def _crc_bytes(crc: int, data: bytes) -> int:
    """The raw register update (no pre- or post-inversion), byte by byte."""
    table = CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc


def _gf2_times(matrix: Sequence[int], vector: int) -> int:
    """A 32 x 32 matrix over GF(2) (column i: the image of bit i) times a 32-bit vector."""
    result, i = 0, 0
    while vector:
        if vector & 1:
            result ^= matrix[i]
        vector >>= 1
        i += 1
    return result


def _gf2_square(matrix: Sequence[int]) -> list[int]:
    return [_gf2_times(matrix, column) for column in matrix]


@functools.lru_cache(maxsize=64)
def _zeros_operator(n_bytes: int) -> tuple[int, ...]:
    """The matrix of the register update by n zero bytes (a linear map of the register)."""
    one_byte = [_crc_bytes(1 << i, b"\0") for i in range(32)]
    result = [1 << i for i in range(32)]  # identity
    power = one_byte
    while n_bytes:
        if n_bytes & 1:
            result = [_gf2_times(power, column) for column in result]
        n_bytes >>= 1
        if n_bytes:
            power = _gf2_square(power)
    return tuple(result)


def _apply_np(matrix: Sequence[int], values: np.ndarray) -> np.ndarray:
    out = np.zeros_like(values)
    for i, column in enumerate(matrix):
        out ^= np.where((values >> np.uint32(i)) & np.uint32(1), np.uint32(column), np.uint32(0))
    return out


def _crc_table16() -> np.ndarray:
    """The register update by two zero bytes from each 16-bit register: the update by two data bytes w
    (little-endian) from register c is TABLE16[(c ^ w) & 0xffff] ^ (c >> 16)."""
    low = np.arange(1 << 16, dtype=np.uint32)
    once = CRC_TABLE_NP[low & 0xFF] ^ (low >> np.uint32(8))
    return CRC_TABLE_NP[once & 0xFF] ^ (once >> np.uint32(8))


CRC_TABLE16 = _crc_table16()


def _crc_raw_numpy(data: memoryview, chunk: int = 256) -> int:
    """The raw register (from 0) over `data`, vectorised: the data is split into equal chunks whose registers
    are computed side by side, two bytes a step, then combined pairwise (the register is linear: crc(A + B)
    = Z_|B| crc(A) xor crc(B), Z_n the update by n zero bytes). Leading zero bytes leave a zero register
    unchanged, so the data is padded in front to a power-of-two number of chunks."""
    n = len(data)
    count = 1 << max(0, (n + chunk - 1) // chunk - 1).bit_length()
    padded = np.zeros(count * chunk, dtype=np.uint8)
    padded[count * chunk - n:] = np.frombuffer(data, dtype=np.uint8)
    words = np.ascontiguousarray(padded.view("<u2").reshape(count, chunk // 2).T)  # row j: word j of each chunk
    registers = np.zeros(count, dtype=np.uint32)
    mask, shift = np.uint32(0xFFFF), np.uint32(16)
    for row in words:
        registers = CRC_TABLE16[(registers ^ row) & mask] ^ (registers >> shift)
    length = chunk
    while len(registers) > 1:
        registers = _apply_np(_zeros_operator(length), registers[0::2]) ^ registers[1::2]
        length *= 2
    return int(registers[0])


def crc32c(data: bytes | memoryview, block: int = 1 << 24) -> int:
    """CRC-32C of `data` (init and final xor 0xffffffff): crc32c(b"123456789") == 0xe3069283. Short inputs
    byte by byte; long ones (a tensor of megabytes) vectorised with numpy, `block` bytes at a time."""
    data = memoryview(data).cast("B")
    n = len(data)
    if n < 4096:
        return _crc_bytes(0xFFFFFFFF, bytes(data)) ^ 0xFFFFFFFF
    register = 0xFFFFFFFF  # the initial register
    for start in range(0, n, block):
        piece = data[start:start + block]
        register = _gf2_times(_zeros_operator(len(piece)), register) ^ _crc_raw_numpy(piece)
    return register ^ 0xFFFFFFFF


def unmask(masked: int) -> int:
    """LevelDB's (and TF's) stored checksums are masked: rotated right by 15 bits plus a constant."""
    rotated = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF


# --- protobuf, the little of it needed -------------------------------------------------------------------
class _Corrupt(Exception):
    """A malformed structure inside a file; said as a WeightsError with the file's name by the caller."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(data):
            raise _Corrupt("a number runs past the end of its record")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _Corrupt("a number longer than 10 bytes")


def _fields(message: bytes) -> dict[int, list]:
    """A protobuf message's fields by number: varints as ints, fixed32/64 as ints, length-delimited as bytes."""
    fields: dict[int, list] = {}
    pos = 0
    while pos < len(message):
        tag, pos = _varint(message, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise _Corrupt("a protobuf field numbered 0")
        if wire == 0:
            value, pos = _varint(message, pos)
        elif wire == 1:
            if pos + 8 > len(message):
                raise _Corrupt("a 64-bit field runs past the end of its record")
            value, pos = struct.unpack_from("<Q", message, pos)[0], pos + 8
        elif wire == 2:
            length, pos = _varint(message, pos)
            if pos + length > len(message):
                raise _Corrupt("a field runs past the end of its record")
            value, pos = message[pos:pos + length], pos + length
        elif wire == 5:
            if pos + 4 > len(message):
                raise _Corrupt("a 32-bit field runs past the end of its record")
            value, pos = struct.unpack_from("<I", message, pos)[0], pos + 4
        else:
            raise _Corrupt(f"protobuf wire type {wire}, which no checkpoint record uses")
        fields.setdefault(number, []).append(value)
    return fields


def _signed(value: int) -> int:
    """An int64 field (two's complement in a varint)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _one(fields: dict[int, list], number: int, default=0):
    values = fields.get(number)
    return values[-1] if values else default  # protobuf: the last occurrence wins


# --- the table --------------------------------------------------------------------------------------------
def _block_handle(data: bytes, pos: int = 0) -> tuple[int, int, int]:
    offset, pos = _varint(data, pos)
    size, pos = _varint(data, pos)
    return offset, size, pos


def _read_block(table: bytes, offset: int, size: int) -> bytes:
    if offset + size + BLOCK_TRAILER > len(table) - FOOTER_SIZE:
        raise _Corrupt(f"a block at byte {offset} ({size} bytes) runs past the end of the table")
    contents = table[offset:offset + size]
    kind, stored = table[offset + size], struct.unpack_from("<I", table, offset + size + 1)[0]
    if unmask(stored) != crc32c(table[offset:offset + size + 1]):  # the checksum covers the type byte too
        raise _Corrupt(f"the block at byte {offset} fails its checksum")
    if kind != 0:
        raise _Corrupt(f"the block at byte {offset} is compressed (type {kind}); TF writes index tables "
                       "uncompressed")
    return contents


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    """A block's (key, value) entries: each key stores how many bytes it shares with the previous one,
    then its own bytes; the block ends in the restart offsets (uint32 each) and their count."""
    if len(block) < 4:
        raise _Corrupt("a block too short to hold its restart count")
    n_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * n_restarts
    if n_restarts == 0 or end < 0:
        raise _Corrupt(f"a block with {n_restarts} restart points for its {len(block)} bytes")
    restarts = set(struct.unpack_from(f"<{n_restarts}I", block, end))
    entries, key, pos = [], b"", 0
    while pos < end:
        start = pos
        shared, pos = _varint(block, pos)
        own, pos = _varint(block, pos)
        size, pos = _varint(block, pos)
        if shared > len(key) or (start in restarts and shared):
            raise _Corrupt(f"an entry at byte {start} of a block shares more of the previous key than there is")
        if pos + own + size > end:
            raise _Corrupt(f"an entry at byte {start} of a block runs past the block's end")
        key = key[:shared] + block[pos:pos + own]
        pos += own
        entries.append((key, block[pos:pos + size]))
        pos += size
    return entries


@dataclass(frozen=True)
class TensorEntry:
    """Where one variable is, and what it is."""
    name: str
    dtype: str  # numpy's name ("float32"), or TF's for the kinds that are not plain arrays ("string")
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int  # bytes
    crc32c: int | None  # unmasked; None if the writer stored none
    sliced: bool = False  # a partitioned variable (stored as slices in other entries): not readable here

    @property
    def readable(self) -> bool:
        return (self.dtype in DTYPES.values() or self.dtype == "bfloat16") and not self.sliced

    def expected_size(self) -> int | None:
        if self.dtype == "bfloat16":
            return 2 * int(np.prod(self.shape, dtype=np.int64))
        if self.dtype not in DTYPES.values():
            return None
        return np.dtype(self.dtype).itemsize * int(np.prod(self.shape, dtype=np.int64))


def checkpoint_prefix(path: str | Path) -> Path:
    """The PREFIX of a checkpoint given as PREFIX, PREFIX.index, one of its data files, or a folder (the one
    its `checkpoint` file names, else its only or newest PREFIX.index)."""
    path = Path(path)
    if path.is_dir():
        state = path / "checkpoint"
        if state.is_file():
            match = re.search(r'^model_checkpoint_path:\s*"(.*)"', state.read_text(errors="replace"), re.M)
            if match and (path / f"{Path(match.group(1)).name}.index").is_file():
                return path / Path(match.group(1)).name
        indexes = sorted(path.glob("*.index"), key=lambda p: [int(t) if t.isdigit() else t
                                                              for t in re.split(r"(\d+)", p.name)])
        if not indexes:
            raise WeightsError(f"{path} holds no TensorFlow checkpoint (no *.index file).")
        return indexes[-1].with_suffix("")
    if path.suffix == ".index":
        return path.with_suffix("")
    match = DATA_FILE.match(path.name)
    if match:
        return path.with_name(match.group("prefix"))
    return path


class TensorBundle:
    """A TF checkpoint's variables: `entries` (name -> TensorEntry, in the index's order) from its .index
    file, read and checked on construction; `read(name)` a variable's value from its data file."""

    def __init__(self, path: str | Path, verify: bool = True):
        """verify: check each tensor's bytes against its CRC-32C when read (numpy-vectorised: some seconds per
        gigabyte; off, only its length is checked)."""
        self.prefix = checkpoint_prefix(path)
        self.index = self.prefix.with_name(self.prefix.name + ".index")
        self.verify = verify
        if not self.index.is_file():
            raise WeightsError(f"{self.index} does not exist: a TensorFlow checkpoint is PREFIX.index with "
                               "PREFIX.data-00000-of-00001 beside it.")
        self.entries: dict[str, TensorEntry] = {}
        self.num_shards = 1
        try:
            self._read_index(self.index.read_bytes())
        except _Corrupt as err:
            raise WeightsError(f"{self.index} is not a valid TensorFlow checkpoint index, or is damaged: "
                               f"{err}.") from None
        missing = [p.name for p in self.data_files if not p.is_file()]
        if missing:
            raise WeightsError(f"{self.index.name}: its data file {missing[0]} is missing (it must be beside the "
                               ".index file).")

    @property
    def data_files(self) -> list[Path]:
        return [self.prefix.with_name(f"{self.prefix.name}.data-{shard:05d}-of-{self.num_shards:05d}")
                for shard in range(self.num_shards)]

    @property
    def files(self) -> list[Path]:
        """What the checkpoint is made of: the index, then the data shards."""
        return [self.index, *self.data_files]

    @property
    def names(self) -> list[str]:
        return list(self.entries)

    def _read_index(self, table: bytes) -> None:
        if len(table) < FOOTER_SIZE:
            raise _Corrupt(f"{len(table)} bytes, shorter than a table's {FOOTER_SIZE}-byte footer")
        footer = table[-FOOTER_SIZE:]
        if struct.unpack_from("<Q", footer, FOOTER_SIZE - 8)[0] != TABLE_MAGIC:
            raise _Corrupt("its footer lacks the table magic number (truncated, or not an index file)")
        _, _, pos = _block_handle(footer)  # the metaindex block: TF writes no meta blocks
        index_offset, index_size, _ = _block_handle(footer, pos)
        header_seen = False
        for _, handle in _block_entries(_read_block(table, index_offset, index_size)):
            offset, size, _ = _block_handle(handle)
            for key, value in _block_entries(_read_block(table, offset, size)):
                if key == b"":
                    self._read_header(value)
                    header_seen = True
                    continue
                try:
                    name = key.decode("utf-8")
                except UnicodeDecodeError:
                    raise _Corrupt(f"a variable name that is not UTF-8 ({key[:40]!r})") from None
                self.entries[name] = self._entry(name, value)
        if not header_seen:
            raise _Corrupt("no bundle header (the entry with the empty key)")
        bad = [e.name for e in self.entries.values() if e.shard >= self.num_shards]
        if bad:
            raise _Corrupt(f"{bad[0]!r} is in shard {self.entries[bad[0]].shard} of {self.num_shards}")

    def _read_header(self, value: bytes) -> None:
        fields = _fields(value)
        self.num_shards = _one(fields, 1, 1)
        if not 1 <= self.num_shards <= 100000:
            raise _Corrupt(f"a header with {self.num_shards} shards")
        if _one(fields, 2) != 0:
            raise _Corrupt("a big-endian checkpoint; only little-endian ones (every common machine's) are read")

    @staticmethod
    def _entry(name: str, value: bytes) -> TensorEntry:
        fields = _fields(value)
        code = _one(fields, 1)
        dims = []
        shape = _fields(_one(fields, 2, b""))
        if _one(shape, 3):
            raise _Corrupt(f"{name!r} has a shape of unknown rank")
        for dim in shape.get(2, []):
            size = _signed(_one(_fields(dim), 1))
            if size < 0:
                raise _Corrupt(f"{name!r} has a dimension of size {size}")
            dims.append(size)
        offset, size = _signed(_one(fields, 4)), _signed(_one(fields, 5))
        if offset < 0 or size < 0:
            raise _Corrupt(f"{name!r} has a negative offset or size")
        crc = _one(fields, 6, None)
        dtype = DTYPES.get(code) or DTYPE_NAMES.get(code) or f"DataType {code}"
        entry = TensorEntry(name, dtype, tuple(dims), _one(fields, 3), offset, size,
                            None if crc is None else unmask(crc), sliced=bool(fields.get(7)))
        expected = entry.expected_size()
        if expected is not None and not entry.sliced and expected != size:
            raise _Corrupt(f"{name!r}: {dtype} of shape {tuple(dims)} is {expected} bytes, its record says {size}")
        return entry

    def read(self, name: str) -> np.ndarray:
        """The variable's value as a numpy array of its dtype and shape (bfloat16: as float32)."""
        entry = self.entries.get(name)
        if entry is None:
            raise WeightsError(f"{self.index.name}: no variable {name!r}.")
        if entry.sliced or not entry.readable:
            what = "a partitioned variable (stored in slices)" if entry.sliced else f"a {entry.dtype} tensor"
            raise WeightsError(f"{self.index.name}: {name!r} is {what}, which this reader does not read.")
        path = self.data_files[entry.shard]
        with open(path, "rb") as f:
            f.seek(entry.offset)
            data = f.read(entry.size)
        if len(data) != entry.size:
            raise WeightsError(f"{path.name} is truncated: {name!r} needs bytes {entry.offset:,} to "
                               f"{entry.offset + entry.size:,}, the file has {path.stat().st_size:,}.")
        if self.verify and entry.crc32c is not None and crc32c(data) != entry.crc32c:
            raise WeightsError(f"{path.name} is damaged: {name!r} fails its checksum (CRC-32C); download the "
                               "checkpoint again.")
        if entry.dtype == "bfloat16":
            bits = np.frombuffer(data, dtype="<u2").astype(np.uint32) << np.uint32(16)
            return bits.view(np.float32).reshape(entry.shape)
        return np.frombuffer(data, dtype=np.dtype(entry.dtype).newbyteorder("<")).reshape(entry.shape).astype(
            entry.dtype, copy=True)

    def read_all(self) -> dict[str, np.ndarray]:
        """Every readable variable, by name."""
        return {name: self.read(name) for name, entry in self.entries.items() if entry.readable and not entry.sliced}
