"""Which encoding a CSV file is in, from its first 64 KiB.

UTF-8 (with or without a BOM) and UTF-16/32 with a BOM are recognised here at once; anything
else is a guess, which the run reports (``Guess.warning``) because a wrong guess does not fail:
it garbles names ("Łukasz" read as cp1252 is "£ukasz") and the rows pass.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

# charset-normalizer alone misreads short or repetitive contact files: a Polish cp1250 export
# comes out as cp1252 ("£ukasz") or cp1251, a Spanish cp1252 one as cp1250 ("Núńez"). Names
# and addresses tell the code page apart better than its measure of chaos does: read right, the
# non-ASCII letters of a file are those of one language, and no word mixes scripts. So each
# candidate decoding is scored by the share of its non-ASCII characters that one language's
# alphabet explains, and charset-normalizer's order (chaos, then coherence) only breaks ties.
_LATIN_ALPHABETS = (
    "ąćęłńóśźż",  # Polish
    "áčďéěíňóřšťúůýž",  # Czech
    "áäčďéíĺľňóôŕšťúýž",  # Slovak
    "čćđšž",  # Croatian, Bosnian, Slovene
    "áéíóöőúüű",  # Hungarian
    "ăâîșțşţ",  # Romanian (with the cedilla forms cp1250 has)
    "äöüß",  # German
    "àâæçéèêëîïôœùûüÿ",  # French
    "áéíñóúü",  # Spanish
    "ãõáâàçéêíóôú",  # Portuguese
    "àèéìíòóùú",  # Italian
    "àçèéíïòóúü",  # Catalan
    "áéëèíïóöúü",  # Dutch
    "æøåéó",  # Danish, Norwegian
    "åäöé",  # Swedish, Finnish
    "áðéíóúýþæö",  # Icelandic
    "äõöüšž",  # Estonian
    "āčēģīķļņšūž",  # Latvian
    "ąčęėįšųūž",  # Lithuanian
    "çğıöşüİ",  # Turkish
    "ëç",  # Albanian
    "ċġħżàèìòù",  # Maltese
)
_ALPHABETS = tuple(frozenset(a) | frozenset(a.upper()) for a in _LATIN_ALPHABETS)
# Punctuation that Windows tools write into names and addresses in any language.
_NEUTRAL = frozenset("\u2019\u2018\u201c\u201d\u201e\u2026\u20ac\u00a0")
# Greek read as a Cyrillic code page (and the other way round) is all letters of one script,
# but hardly a vowel among them: in real text about two letters in five are vowels.
_VOWELS = {"CYRILLIC": frozenset("аеёиоуыэюяіїєАЕЁИОУЫЭЮЯІЇЄ"),
           "GREEK": frozenset("αεηιουωάέήίόύώϊϋΐΰΑΕΗΙΟΥΩΆΈΉΊΌΎΏ")}
_FEWEST_VOWELS = 0.25
# Code pages tried besides charset-normalizer's candidates (it leaves out the right one on some
# samples), in the order taken among equals: the ones contact exports are written in first.
_COMMON = ("cp1252", "cp1250", "iso8859-2", "cp1251", "iso8859-15", "iso8859-1", "cp1254",
           "cp1253", "cp1257", "cp1255", "cp1256", "cp1258", "koi8-r", "koi8-u", "iso8859-5",
           "iso8859-7", "iso8859-9", "iso8859-13", "iso8859-16", "mac-roman", "cp850", "cp852",
           "cp866")
_READS_AS_NAMES = 0.9
_WORD = re.compile(r"[^\W\d_]+")

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
    from charset_normalizer.md import mess_ratio

    found = {_name(m.encoding): m for m in from_bytes(sample)}
    texts: dict[str, str] = {name: str(match) for name, match in found.items()}
    scores = {name: _explained(text) for name, text in texts.items()}
    for name in _COMMON:
        if name not in texts:
            with contextlib.suppress(UnicodeDecodeError):
                text = sample.decode(name)
                # One charset-normalizer left out is taken only when it reads as names do;
                # nearly any bytes decode in a single-byte code page.
                if (score := _explained(text)) >= _READS_AS_NAMES:
                    texts[name], scores[name] = text, score
    if not texts:
        return Guess("utf-8", 0.0)
    top = max(scores.values())
    best = [name for name, score in scores.items() if score >= top - 0.01]

    def order(name: str) -> tuple[bool, float, float, int]:
        match = found.get(name)
        rank = _COMMON.index(name) if name in _COMMON else len(_COMMON)
        if match is None:
            return (False, 0.0, 0.0, -rank)
        return (True, -match.chaos, match.coherence, -rank)

    winner = max(best, key=order)
    # Code pages that read the sample alike are one answer: name the most common of them
    # (a German file is cp1252, though cp1250 reads its äöüß the same).
    alike = [name for name in _COMMON if texts.get(name) == texts[winner]]
    chosen = alike[0] if alike else winner
    match = found.get(winner)
    chaos = match.chaos if match is not None else mess_ratio(texts[winner], 1.0)
    return Guess(chosen, round(1.0 - chaos, 2))


def _name(encoding: str) -> str:
    return codecs.lookup(encoding).name


def _explained(text: str) -> float:
    """The share of the non-ASCII characters of ``text`` that read as a name or an address
    would: letters of one language's alphabet (Latin scripts), letters of one other script in
    words that do not mix scripts (Cyrillic, Greek, Hebrew, Arabic...), or common punctuation."""
    wide = Counter(c for c in text if c > "\x7f")
    total = sum(wide.values())
    if not total:
        return 1.0
    mixed: Counter[str] = Counter()
    for word in _WORD.findall(text):
        if not word.isascii() and len({_script(c) for c in word}) > 1:
            mixed.update(c for c in word if c > "\x7f")
    neutral = sum(n for c, n in wide.items() if c in _NEUTRAL)
    scripts: Counter[str] = Counter()
    vowels: Counter[str] = Counter()
    for c, n in wide.items():
        script = _script(c)
        if c.isalpha() and script != "LATIN":
            scripts[script] += n - mixed[c]
            vowels[script] += (n - mixed[c]) if c in _VOWELS.get(script, ()) else 0
    other = sum(n for script, n in scripts.items()
                if script not in _VOWELS or vowels[script] >= _FEWEST_VOWELS * n)
    latin = max((sum(n - mixed[c] for c, n in wide.items() if c in alphabet)
                 for alphabet in _ALPHABETS), default=0)
    return (neutral + other + latin) / total


def _script(char: str) -> str:
    if char.isascii():
        return "LATIN"
    name = unicodedata.name(char, "")
    return name.partition(" ")[0]
