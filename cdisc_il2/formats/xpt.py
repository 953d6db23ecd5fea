"""SAS transport (XPORT) version 5 reading and writing, column-wise with numpy (IBM floats converted in bulk)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from .model import ColumnMeta, Dataset

RECORD = 80
NAMESTR = 140
LIBRARY_HEADER = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"
MEMBER_HEADER = b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!"
NAMESTR_HEADER = b"HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!"
OBS_HEADER = b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!"
SAS_EPOCH = pd.Timestamp("1960-01-01")
IBM_MAX = (1 - 16.0 ** -14) * 16.0 ** 63    # the largest IBM 370 double (about 7.2E+75)
MAX_XPT_BYTES = 5 * 1024 ** 3               # the FDA's limit for one dataset file; larger files are refused unread


def ibm_to_ieee(raw: np.ndarray) -> np.ndarray:
    """Convert an (n, 8) uint8 array of IBM 370 doubles to float64; SAS missing values become NaN."""
    be = raw.astype(np.uint8)
    first = be[:, 0]
    rest_zero = ~be[:, 1:].any(axis=1)
    missing = rest_zero & ((first == 0x2E) | (first == 0x5F) | ((first >= 0x41) & (first <= 0x5A)))
    word = be.view(">u8").ravel().astype(np.uint64)
    sign = np.where((word >> np.uint64(63)) & np.uint64(1), -1.0, 1.0)
    exponent = ((word >> np.uint64(56)) & np.uint64(0x7F)).astype(np.int64)
    mantissa = (word & np.uint64(0x00FFFFFFFFFFFFFF)).astype(np.float64)
    value = sign * np.ldexp(mantissa, (4 * (exponent - 64) - 56).astype(np.int64))
    value[mantissa == 0] = 0.0
    value[missing] = np.nan
    return value


def ieee_to_ibm(values: np.ndarray) -> np.ndarray:
    """Convert float64 values to an (n, 8) uint8 array of IBM 370 doubles; NaN becomes SAS missing '.'."""
    v = np.asarray(values, dtype=np.float64)
    out = np.zeros((len(v), 8), dtype=np.uint8)
    nan = np.isnan(v)
    zero = (v == 0) & ~nan
    ok = ~nan & ~zero
    a = np.abs(v[ok])
    # exponent base 16 so that 1/16 <= fraction < 1
    e16 = np.floor(np.log2(a) / 4).astype(np.int64) + 1
    frac = a / np.power(16.0, e16.astype(np.float64))
    fix_hi = frac >= 1.0
    e16[fix_hi] += 1
    frac[fix_hi] /= 16.0
    fix_lo = frac < 1.0 / 16.0
    e16[fix_lo] -= 1
    frac[fix_lo] *= 16.0
    mant = np.round(np.ldexp(frac, 56)).astype(np.uint64)
    over = mant >= np.uint64(1 << 56)
    mant[over] >>= np.uint64(4)
    e16[over] += 1
    if (e16 + 64 > 127).any() or (e16 + 64 < 0).any():
        raise ValueError("a value is outside the range of IBM floating point")
    sign = (v[ok] < 0).astype(np.uint64) << np.uint64(63)
    word = sign | ((e16 + 64).astype(np.uint64) << np.uint64(56)) | mant
    out[ok] = word.astype(">u8").view(np.uint8).reshape(-1, 8)
    out[nan, 0] = 0x2E
    return out


def fixed_to_text(cell: np.ndarray) -> pd.Series:
    """(n, width) blank-padded bytes to a text column (trailing blanks removed, empty = missing), in bulk."""
    n, width = cell.shape
    nonblank = cell != 0x20
    last = np.where(nonblank.any(axis=1), width - np.argmax(nonblank[:, ::-1], axis=1), 0)
    keep = np.arange(width)[None, :] < last[:, None]
    data = cell[keep]                                  # row-major: each row's bytes in order
    if (data >= 0x80).any():                           # Latin-1 text: decode value by value
        fixed = np.ascontiguousarray(cell).view(f"S{width}").ravel()
        text = pd.Series(np.char.rstrip(np.char.decode(fixed, "latin-1")), dtype="string")
        return text.mask(text == "")
    import pyarrow as pa

    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(last, out=offsets[1:])
    arr = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())])
    text = pd.Series(pd.arrays.ArrowStringArray(arr.cast(pa.large_string())), dtype="string")
    return text.mask(last == 0)


def text_to_fixed(text: pd.Series) -> tuple[np.ndarray, int] | None:
    """An ASCII text column to an (n, width) blank-padded byte matrix in bulk, made once per distinct value and
    taken by record; None when not all ASCII."""
    codes, uniques = pd.factorize(text.astype("string").fillna(""))
    fixed = _distinct_to_fixed(pd.Series(uniques, dtype="string"))
    return None if fixed is None else (fixed[0][codes], fixed[1])


def _distinct_to_fixed(text: pd.Series) -> tuple[np.ndarray, int] | None:
    """text_to_fixed on the distinct values (no missing value among them)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(text.to_numpy(dtype=object), type=pa.large_string()) \
        if getattr(text.dtype, "storage", "") != "pyarrow" else text.array._pa_array
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if len(arr) and not pc.all(pc.string_is_ascii(arr)).as_py():
        return None
    arr = arr.cast(pa.large_string())
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, dtype=np.uint8)
    lengths = np.diff(offsets)
    width = int(max(1, lengths.max() if len(lengths) else 1))
    out = np.full((len(arr), width), 0x20, dtype=np.uint8)
    total = int(lengths.sum())
    if total:
        rows = np.repeat(np.arange(len(arr)), lengths)
        cols = np.arange(total) - np.repeat(offsets[:-1] - offsets[0], lengths)
        out[rows, cols] = data[offsets[0]:offsets[0] + total]
    return out, width


def _text(b: bytes) -> str:
    return b.decode("latin-1").rstrip()


def read_xpt(path: Path) -> Dataset:
    """Read the first member of a SAS XPORT v5 file into a Dataset (numerics float64, text stripped); a file
    that is not XPT, is cut short or does not hold together is an InputError naming it."""
    # the headers are read and checked against the file's size first; the observations are then memory-mapped,
    # never read whole into memory before the checks
    path = Path(path)
    try:
        return _read_xpt(path)
    except (ValueError, IndexError) as exc:
        raise InputError(f"{path.name}: damaged SAS transport (XPORT v5) file: its headers cannot be read ({exc})") \
            from None


class _Reader:
    """The header records of an XPT file, read 80 bytes at a time from an open handle."""

    def __init__(self, path: Path, fh, size: int) -> None:
        self.path, self.fh, self.size = path, fh, size

    def at(self, pos: int, n: int, what: str) -> bytes:
        """`n` bytes at `pos`; a file that ends before them is truncated, saying where."""
        if pos + n > self.size:
            raise InputError(f"{self.path.name}: truncated SAS transport file: it ends inside the {what} "
                             f"(byte {self.size:,}; {pos + n:,} needed)")
        self.fh.seek(pos)
        return self.fh.read(n)

    def header(self, pos: int, kind: bytes, what: str) -> bytes:
        """The 80-byte header record expected at `pos`."""
        record = self.at(pos, RECORD, what)
        if not record.startswith(kind):
            raise InputError(f"{self.path.name}: damaged SAS transport file: no {what} at byte {pos:,} "
                             f"(found '{_text(record[:48])}')")
        return record


def _read_xpt(path: Path) -> Dataset:
    """read_xpt without the last-resort error wrapping."""
    try:
        size = path.stat().st_size
        fh = open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path.name}: cannot be read ({exc.strerror})") from None
    with fh:
        if fh.read(len(LIBRARY_HEADER)) != LIBRARY_HEADER:
            raise InputError(f"{path.name}: not a SAS transport (XPORT v5) file: the library header is missing")
        if size > MAX_XPT_BYTES:
            raise InputError(f"{path.name}: refused: {size / 1024 ** 3:,.1f} GiB is more than the "
                             f"{MAX_XPT_BYTES / 1024 ** 3:g} GiB allowed for one dataset file (limit MAX_XPT_BYTES; "
                             "the FDA asks for datasets over 5 GB to be split)")
        if size % RECORD:
            raise InputError(f"{path.name}: truncated SAS transport file: {size} bytes is not a whole number of "
                             f"{RECORD}-byte records (the file was cut short or damaged in transfer)")
        rd = _Reader(path, fh, size)
        member = rd.header(3 * RECORD, MEMBER_HEADER, "member header record")
        namestr_len = int(member[74:78].strip() or NAMESTR)
        if namestr_len not in (136, NAMESTR):
            raise InputError(f"{path.name}: damaged SAS transport file: variable descriptions of {namestr_len} "
                             "bytes (XPORT v5 has 140, or 136 on VAX/VMS)")
        desc = rd.at(5 * RECORD, 2 * RECORD, "member description")
        name = _text(desc[8:16])
        created = _text(desc[64:80])
        label = _text(desc[RECORD + 32:RECORD + 72])
        head = rd.header(7 * RECORD, NAMESTR_HEADER, "NAMESTR header record")
        count = head[54:58].strip()
        if not count.isdigit():
            raise InputError(f"{path.name}: damaged SAS transport file: the NAMESTR header gives no variable count "
                             f"('{_text(head[54:58])}')")
        nvars = int(count)
        start = 8 * RECORD
        names = rd.at(start, nvars * namestr_len, f"variable descriptions ({nvars} variables)")
        obs_at = start + nvars * namestr_len
        obs_at += (-obs_at) % RECORD
        rd.header(obs_at, OBS_HEADER, "OBS header record")
        columns, layout, rowlen = _namestrs(path, names, nvars, namestr_len)
        body_at = obs_at + RECORD
    body_len = size - body_at
    body = np.memmap(path, dtype=np.uint8, mode="r", offset=body_at, shape=(body_len,)) if body_len else \
        np.zeros(0, dtype=np.uint8)
    try:
        body_len = _first_member_end(body, body_len)
        nrows = body_len // rowlen if rowlen else 0
        rest = body[nrows * rowlen:body_len]
        if (rest != 0x20).any():
            raise InputError(f"{path.name}: truncated SAS transport file: the last observation is incomplete "
                             f"({len(rest)} of its {rowlen} bytes)")
        if len(rest) >= RECORD:
            raise InputError(f"{path.name}: truncated SAS transport file: the last observation is incomplete "
                             f"({len(rest)} blank bytes of its {rowlen}, more than the padding of the last "
                             f"{RECORD}-byte record)")
        arr = body[:nrows * rowlen].reshape(nrows, rowlen) if nrows else np.zeros((0, rowlen), dtype=np.uint8)
        # the last 80-byte record is padded with blanks: an all-blank row that lies inside that padding is not data
        # (XPT v5 stores no record count, so an all-blank last record of a short all-character row is ambiguous)
        while len(arr) and (arr[-1] == 0x20).all() and (len(arr) - 1) * rowlen > body_len - RECORD:
            arr = arr[:-1]
        frame = {}
        for (vname, offset, length, ntype) in layout:
            cell = arr[:, offset:offset + length]
            if ntype == 1:
                padded = np.zeros((len(cell), 8), dtype=np.uint8)
                padded[:, :length] = cell
                frame[vname] = ibm_to_ieee(padded)
            else:
                frame[vname] = fixed_to_text(np.array(cell))
        df = pd.DataFrame(frame)
    finally:
        del body
    return Dataset(name=name.upper(), label=label or None, frame=df, columns=columns, source=path,
                   created=created or None)


def _namestrs(path: Path, names: bytes, nvars: int, namestr_len: int):
    """Column metadata and layout (name, offset, length, type) from the NAMESTR records, checked to fit together."""
    columns: list[ColumnMeta] = []
    layout = []
    for i in range(nvars):
        ns = names[i * namestr_len:(i + 1) * namestr_len]
        ntype = int.from_bytes(ns[0:2], "big")
        length = int.from_bytes(ns[4:6], "big")
        vname = _text(ns[8:16])
        vlabel = _text(ns[16:56])
        fmt = _text(ns[56:64])
        flen = int.from_bytes(ns[64:66], "big")
        fdec = int.from_bytes(ns[66:68], "big")
        offset = int.from_bytes(ns[84:88], "big")
        if ntype not in (1, 2) or not vname or length < 1 or (ntype == 1 and not 2 <= length <= 8):
            raise InputError(f"{path.name}: damaged SAS transport file: variable {i + 1} ('{vname}') has type "
                             f"{ntype} and length {length} (numbers are type 1 of 2-8 bytes, text type 2)")
        display = (fmt + (str(flen) if flen else "") + "." + (str(fdec) if fdec else "")) if fmt else None
        columns.append(ColumnMeta(vname, vlabel, "Num" if ntype == 1 else "Char", length, display))
        layout.append((vname, offset, length, ntype))
    rowlen = sum(c.length for c in columns)
    bad = next((v for v in layout if v[1] + v[2] > rowlen), None)
    if bad:
        raise InputError(f"{path.name}: damaged SAS transport file: variable {bad[0]} lies at bytes {bad[1]}-"
                         f"{bad[1] + bad[2]} of an observation of {rowlen}")
    return columns, layout, rowlen


def _first_member_end(body: np.ndarray, body_len: int) -> int:
    """Length of the first member's observations: up to a second member's header record, if the file has one."""
    step = 64 * 1024 * RECORD
    for pos in range(0, body_len, step):
        chunk = body[pos:pos + step + len(MEMBER_HEADER)].tobytes()
        at = chunk.find(MEMBER_HEADER)
        while 0 <= at < step:
            if (pos + at) % RECORD == 0:
                return pos + at
            at = chunk.find(MEMBER_HEADER, at + 1)
    return body_len


def _sas_time(when) -> bytes:
    """SAS header timestamp ddMMMyy:hh:mm:ss."""
    return when.strftime("%d%b%y:%H:%M:%S").upper().encode("ascii")


def _pad(text: str | bytes, width: int) -> bytes:
    raw = text if isinstance(text, bytes) else text.encode("latin-1")
    return raw[:width].ljust(width, b" ")


def _header(kind: bytes, tail: bytes = b"0" * 30) -> bytes:
    return (b"HEADER RECORD*******" + kind.ljust(8, b" ") + b"HEADER RECORD!!!!!!!" + tail).ljust(RECORD, b" ")


XPT_CHUNK = 65_536      # observations written at a time


class XptValueError(ValueError):
    """A value cannot be written to SAS XPT v5 without loss."""


def write_xpt(ds: Dataset, path: Path, when, numeric_formats: dict[str, str] | None = None) -> None:
    """Write one dataset as SAS XPORT v5: names/labels from `ds.columns`, character lengths set to the
    longest value, numerics as IBM doubles, header times from `when` (so output is deterministic).
    A value that does not fit (over 200 bytes, not Latin-1) raises XptValueError naming where it is."""
    from ..io import write_with

    frame = ds.frame
    meta = {c.name: c for c in ds.columns}
    n = len(frame)
    blocks: list[np.ndarray] = []
    names: list[bytes] = []
    pos = 0
    for i, var in enumerate(frame.columns, start=1):
        col = frame[var]
        m = meta.get(var)
        label = (m.label if m and m.label else "") or ""
        is_num = (m.type == "Num") if m else pd.api.types.is_numeric_dtype(col)
        if is_num:
            values = pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64")
            bad = col.notna().to_numpy() & np.isnan(values)
            if bad.any():
                r = int(np.flatnonzero(bad)[0])
                raise XptValueError(f"{ds.name}.{var}, record {r + 1}: '{col.iloc[r]}' is not numeric")
            huge = ~np.isnan(values) & ~(np.abs(values) < IBM_MAX)
            if huge.any():
                r = int(np.flatnonzero(huge)[0])
                raise XptValueError(f"{ds.name}.{var}, record {r + 1}: {float(values[r])!r} is beyond the range of the IBM "
                                    "floating point XPT v5 stores (about 7.2E+75)")
            block, length, ntype = ieee_to_ibm(values), 8, 1
        else:
            block, length, ntype = _char_block(ds.name, var, col.astype("string").fillna("")), 0, 2
            length = block.shape[1]
        fmt = (numeric_formats or {}).get(var) or (m.display_format if m and m.display_format else None)
        fname, flen, fdec = _split_format(fmt)
        names.append(_namestr(ntype, length, i, var, label, fname, flen, fdec, pos))
        blocks.append(block)
        pos += length
    stamp = _sas_time(when)
    head = bytearray()
    head += _header(b"LIBRARY")
    head += (b"SAS     SAS     SASLIB  9.4     " + _pad("cdisc-il2", 8) + b" " * 24 + stamp).ljust(RECORD, b" ")
    head += (stamp + b" " * 64)
    head += _header(b"MEMBER", b"000000000000000001600000000140")
    head += _header(b"DSCRPTR")
    head += (b"SAS     " + _pad(ds.name, 8) + b"SASDATA 9.4     " + _pad("cdisc-il2", 8) + b" " * 24 + stamp)
    head += (stamp + b" " * 16 + _pad(ds.label or "", 40) + _pad("", 8))
    head += _header(b"NAMESTR", f"000000{len(names):04d}00000000000000000000".encode("ascii"))
    ns_bytes = b"".join(names)
    head += ns_bytes + b" " * ((-len(ns_bytes)) % RECORD)
    head += _header(b"OBS")

    def write(fh) -> None:
        fh.write(head)
        for start in range(0, n, XPT_CHUNK):       # the observations a chunk of records at a time, never whole
            fh.write(np.concatenate([b[start:start + XPT_CHUNK] for b in blocks], axis=1).tobytes() if blocks else b"")
        fh.write(b" " * ((-(n * pos)) % RECORD))

    write_with(path, write)


def unfit_values(ds: Dataset, limit: int = 20) -> pd.DataFrame:
    """Records whose text SAS XPT v5 cannot hold (characters outside Latin-1, over 200 bytes), column-wise:
    variable, record (1-based), USUBJID and value; at most `limit` per variable."""
    parts = []
    frame = ds.frame
    for var in frame.columns:
        col = frame[var]
        if pd.api.types.is_numeric_dtype(col):
            continue
        text = col.astype("string")
        wide = _outside_latin1(text)
        longish = (text.str.len() > 50).fillna(False)
        too_long = pd.Series(False, index=text.index)
        if longish.any():
            too_long[longish] = text[longish].str.encode("latin-1", errors="replace").str.len() > 200
        bad = wide | too_long
        if not bad.any():
            continue
        pos = np.flatnonzero(bad.to_numpy())[:limit]
        parts.append(pd.DataFrame({
            "variable": var, "record": pos + 1,
            "USUBJID": frame["USUBJID"].iloc[pos].to_numpy() if "USUBJID" in frame else pd.NA,
            "value": text.iloc[pos].to_numpy(),
            "reason": np.where(wide.iloc[pos].to_numpy(), "characters outside Latin-1", "longer than 200 bytes")}))
    if not parts:
        return pd.DataFrame(columns=["variable", "record", "USUBJID", "value", "reason"])
    return pd.concat(parts, ignore_index=True)


def _outside_latin1(text: pd.Series) -> pd.Series:
    """Per value: holds a character outside Latin-1 (False for missing); only non-ASCII values are searched."""
    wide = pd.Series(False, index=text.index)
    rest = ~text.str.isascii().fillna(True).to_numpy(dtype=bool)
    if rest.any():
        wide[rest] = text[rest].str.contains(r"[^\x00-\xff]", regex=True).fillna(False).to_numpy(dtype=bool)
    return wide


def _char_block(name: str, var: str, text: pd.Series) -> np.ndarray:
    """A character column as an (n, length) blank-padded byte matrix; length = the longest value (max 200)."""
    fast = text_to_fixed(text)
    if fast is not None and fast[1] <= 200:
        return fast[0]
    try:
        encoded = text.str.encode("latin-1")
    except UnicodeEncodeError:
        r = next(j for j, v in enumerate(text) if _not_latin1(v))
        raise XptValueError(f"{name}.{var}, record {r + 1}: '{text.iloc[r]}' has characters outside "
                            "Latin-1, which XPT v5 cannot hold") from None
    lengths = encoded.str.len()
    n = len(text)
    length = int(max(1, lengths.max() if n else 1))
    if length > 200:
        r = int(lengths.to_numpy().argmax())
        raise XptValueError(f"{name}.{var}, record {r + 1}: value of {length} bytes is longer than "
                            f"the 200 allowed by XPT v5: '{text.iloc[r][:60]}...'")
    fixed = np.array(encoded.tolist(), dtype=f"S{length}") if n else np.zeros(0, dtype=f"S{length}")
    block = np.frombuffer(fixed.tobytes(), dtype=np.uint8).reshape(n, length).copy() if n else \
        np.zeros((0, length), dtype=np.uint8)
    block[block == 0] = 0x20           # numpy pads with NUL; XPT pads with blanks
    return block


def _namestr(ntype: int, length: int, number: int, var: str, label: str, fname: str, flen: int, fdec: int,
             pos: int) -> bytes:
    """One 140-byte NAMESTR record."""
    return (ntype.to_bytes(2, "big") + (0).to_bytes(2, "big") + length.to_bytes(2, "big") + number.to_bytes(2, "big")
            + _pad(var, 8) + _pad(label, 40) + _pad(fname, 8) + flen.to_bytes(2, "big") + fdec.to_bytes(2, "big")
            + (0).to_bytes(2, "big") + b"\x00\x00" + _pad("", 8) + (0).to_bytes(2, "big") + (0).to_bytes(2, "big")
            + pos.to_bytes(4, "big") + b"\x00" * 52)


def _not_latin1(v: str) -> bool:
    try:
        v.encode("latin-1")
        return False
    except UnicodeEncodeError:
        return True


def _split_format(fmt: str | None) -> tuple[str, int, int]:
    """'DATE9.' -> ('DATE', 9, 0); '8.2' -> ('', 8, 2)."""
    if not fmt:
        return "", 0, 0
    import re

    m = re.fullmatch(r"\$?([A-Za-z_]*)(\d*)\.(\d*)", fmt)
    if not m:
        return fmt[:8], 0, 0
    return m.group(1).upper(), int(m.group(2) or 0), int(m.group(3) or 0)
