"""The byte-level text tokenizer."""

import pytest

from tv2tv_world.world_model.text_tokenizer import SPECIALS, ByteTokenizer


def test_any_text_round_trips_through_bytes():
    tok = ByteTokenizer()
    for text in ["move up", "go to the red fruit", "öffne die Tür 🚪", ""]:
        ids = tok.encode(text)
        assert all(0 <= i < 256 for i in ids)
        assert tok.decode(ids) == text
    assert tok.encode("A") == [65]


def test_special_tokens_sit_after_the_bytes_and_are_dropped_when_decoding():
    tok = ByteTokenizer()
    assert (tok.pad, tok.bos, tok.eos, tok.bof, tok.eof) == (256, 257, 258, 259, 260)
    assert tok.vocab_size == 256 + len(SPECIALS)
    assert tok.decode([tok.bos, *tok.encode("hi"), tok.bof, tok.eof]) == "hi"


def test_bad_text_is_a_named_error():
    tok = ByteTokenizer(max_text_bytes=8)
    with pytest.raises(TypeError, match="text must be a str, got int"):
        tok.encode(3)
    with pytest.raises(ValueError, match="9 UTF-8 bytes; the limit is 8"):
        tok.encode("123456789")


def test_tokenizer_survives_a_checkpoint_round_trip():
    tok = ByteTokenizer(max_text_bytes=99)
    again = ByteTokenizer.from_dict(tok.to_dict())
    assert again.to_dict() == tok.to_dict() and again.bof == tok.bof
    with pytest.raises(ValueError, match="not a byte tokenizer"):
        ByteTokenizer.from_dict({"kind": "bpe"})
