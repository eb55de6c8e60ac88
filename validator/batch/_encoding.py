"""Which encoding a CSV file is in, from its first 64 KiB.

UTF-8 (with or without a BOM) and UTF-16/32 with a BOM are recognised here at once; anything
else is charset-normalizer's guess, which the run reports (``Guess.warning``) because a wrong
guess does not fail: it garbles names ("Łukasz" read as cp1252 is "£ukasz") and the rows pass.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

# Of the candidates charset-normalizer finds nearly as clean as its best (within this much
# "chaos", its measure of how garbled a decoding looks), the one that decodes the most non-ASCII
# characters to letters is taken: contact files are names and addresses, and on short or
# repetitive samples its best for a Polish cp1250 file is cp1252, which makes Ł, ż and ł the
# symbols £, ¿ and ³ — text that looks no messier to it, but is not a name.
_CHAOS_MARGIN = 0.08
# Among decodings equally made of letters, the code pages contact exports are written in win
# (ISO 8859-10 and 8859-2 both read Polish as letters, but only 8859-2 as Polish ones).
_COMMON = frozenset({*(f"cp{n}" for n in range(1250, 1259)), "iso8859-1", "iso8859-2",
                     "iso8859-15"})

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts with UTF-16 LE's
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True, slots=True)
class Guess:
    """An encoding and how it was found: ``confidence`` is None when it is certain (UTF-8
    decodes the sample, or a BOM says so), else charset-normalizer's 1 - chaos, 0 to 1."""

    encoding: str
    confidence: float | None = None

    def warning(self, name: str) -> str | None:
        """What to tell the user about a guessed encoding (None when it is certain)."""
        if self.confidence is None:
            return None
        if self.encoding == "utf-8":
            return (f"{name}: the encoding could not be recognised; read as UTF-8, rows with "
                    "bytes that are not UTF-8 are refused (give --encoding)")
        return (f"{name} is not UTF-8: read as {self.encoding} (guessed by charset-normalizer, "
                f"confidence {self.confidence:.0%}); give --encoding if that is wrong")


def detect(sample: bytes) -> Guess:
    """The encoding of a file starting with ``sample``."""
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return Guess(name)
    try:
        sample.decode("utf-8")
        return Guess("utf-8")
    except UnicodeDecodeError as exc:
        # The sample may end inside a multi-byte character; that is not evidence against UTF-8.
        if exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return Guess("utf-8")
    return _guess(sample)


def _guess(sample: bytes) -> Guess:
    # Imported here: most files are UTF-8 and never need it.
    from charset_normalizer import from_bytes

    matches = list(from_bytes(sample))
    if not matches:
        return Guess("utf-8", 0.0)
    best = min(match.chaos for match in matches)
    close = [m for m in matches if m.chaos <= best + _CHAOS_MARGIN]
    chosen = max(close, key=lambda m: (_letters(str(m)), _name(m.encoding) in _COMMON,
                                       m.coherence))  # max keeps the first of equals
    return Guess(_name(chosen.encoding), round(1.0 - chosen.chaos, 2))


def _name(encoding: str) -> str:
    return codecs.lookup(encoding).name


def _letters(text: str) -> float:
    """The share of the non-ASCII characters of ``text`` that are letters."""
    wide = [c for c in text if c > "\x7f"]
    return sum(c.isalpha() for c in wide) / len(wide) if wide else 1.0
