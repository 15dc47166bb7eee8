"""Byte-level text tokenizer: any UTF-8 text works, nothing to download, nothing to train."""

from __future__ import annotations

SPECIALS = ("<pad>", "<bos>", "<eos>", "<bof>", "<eof>")


class ByteTokenizer:
    """Token ids 0..255 are UTF-8 bytes; then one id per special token (PAD, BOS, EOS, BOF, EOF).

    BOF / EOF delimit a video chunk in the interleaved sequence: when the text tower emits BOF
    the sampler switches to drawing frames.
    """

    def __init__(self, specials: tuple[str, ...] = SPECIALS, max_text_bytes: int = 256):
        if list(specials[: len(SPECIALS)]) != list(SPECIALS):
            raise ValueError(f"specials must start with {SPECIALS}, got {tuple(specials)}")
        self.specials = tuple(specials)
        self.max_text_bytes = max_text_bytes
        self.pad, self.bos, self.eos, self.bof, self.eof = (256 + i for i in range(len(SPECIALS)))

    @property
    def vocab_size(self) -> int:
        return 256 + len(self.specials)

    def encode(self, text: str) -> list[int]:
        """UTF-8 bytes of `text` as ids; a clear error for non-text or over-long text."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}: {text!r}")
        data = text.encode("utf-8")
        if len(data) > self.max_text_bytes:
            raise ValueError(f"text is {len(data)} UTF-8 bytes; the limit is {self.max_text_bytes}: {text[:40]!r}...")
        return list(data)

    def decode(self, ids) -> str:
        """Ids back to text; special tokens are dropped, broken UTF-8 is replaced."""
        return bytes(int(i) for i in ids if 0 <= int(i) < 256).decode("utf-8", errors="replace")

    def to_dict(self) -> dict:
        """What a checkpoint stores to rebuild this tokenizer."""
        return {"kind": "byte", "specials": list(self.specials), "max_text_bytes": self.max_text_bytes}

    @classmethod
    def from_dict(cls, data: dict) -> ByteTokenizer:
        if not isinstance(data, dict) or data.get("kind") != "byte":
            raise ValueError(f"not a byte tokenizer description: {data!r}")
        return cls(tuple(data["specials"]), int(data["max_text_bytes"]))
