"""Bytes to text: which encoding a news file is in, and whether it is text at all."""

from __future__ import annotations

_BINARY_MAGIC = (
    b"%PDF",
    b"\x1f\x8b",
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
    b"PK\x03\x04",
    b"BZh",
    b"\xfd7zXZ",
)


def decode_bytes(data: bytes) -> tuple[str | None, str | None]:
    """Decode a file's bytes: (text, note). text is None for binary data.

    UTF-8 and UTF-16 with a BOM are honoured; text that is not UTF-8 is read as cp1252 (the
    usual culprit in news archives) or Latin-1, with a note so the user learns about it.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), None
        except UnicodeDecodeError:
            return None, "binary data (bad UTF-16)"
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    head = data[:8192]
    if head.startswith(_BINARY_MAGIC) or b"\x00" in head:
        return None, "binary data"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    # UTF-8 with a few damaged bytes (a truncated download, one pasted cp1252 character) is
    # still UTF-8: decoding all of it as cp1252 would garble every accented letter it holds.
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    if non_ascii - bad > bad:
        return text, f"invalid UTF-8: {bad} damaged byte sequence(s) replaced by U+FFFD"
    try:
        return data.decode("cp1252"), "not UTF-8, decoded as cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "not UTF-8, decoded as Latin-1"
