"""Encodings of CSV inputs: UTF-8 and BOMs at once, charset-normalizer's guess for the rest,
told to the user, and `--encoding` over both."""

from __future__ import annotations

import codecs
import itertools
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from validator.batch._encoding import detect

CHECK = [sys.executable, "-m", "validator", "check", "--no-check-mx", "-j", "1"]

FIRST = ["Łukasz", "Małgorzata", "Paweł", "Jędrzej", "Bożena", "Ścibor", "Zofia", "Grzegorz"]
LAST = ["Żółć", "Wąs", "Ślusarczyk", "Dąbrowski", "Wiśniewska", "Zieliński", "Brzęczyszczykiewicz"]
CITIES = ["Łódź", "Gdańsk", "Kraków", "Wrocław", "Poznań", "Białystok"]


def polish_csv(rows: int = 40) -> str:
    """A contact export as a Polish shop's Windows tools write it."""
    lines = ["email,name,campaign.campaignId,city"]
    for i, (first, last) in enumerate(itertools.islice(itertools.product(FIRST, LAST), rows)):
        lines.append(f"u{i}@example.com,{first} {last},pV3r,{CITIES[i % len(CITIES)]}")
    return "\r\n".join(lines) + "\r\n"


def check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHECK, *map(str, args)], capture_output=True, text=True,
                          timeout=60, check=False)


def test_a_cp1250_export_is_read_as_cp1250_and_the_guess_is_told(tmp_path: Path) -> None:
    source = tmp_path / "klienci.csv"
    source.write_bytes(polish_csv().encode("cp1250"))
    result = check(source, "--valid", tmp_path / "ok.csv", "--report", tmp_path / "r.json")
    assert result.returncode == 0, result.stderr
    valid = (tmp_path / "ok.csv").read_bytes().decode("utf-8")
    assert "u0@example.com,Łukasz Żółć,pV3r,Łódź\r\n" in valid
    assert "£ukasz" not in valid
    warning = next(line for line in result.stderr.splitlines() if "warning" in line)
    assert f"{source} is not UTF-8: read as cp1250" in warning
    assert "confidence 9" in warning and "--encoding" in warning  # e.g. 96%
    assert json.loads((tmp_path / "r.json").read_text())["inputWarnings"] == [
        warning.removeprefix("validator: warning: ")]
    # Said with --quiet too: a wrong guess would pass garbled names without a word.
    quiet = check(source, "-q")
    assert quiet.returncode == 0 and "read as cp1250" in quiet.stderr


def test_encoding_given_overrides_the_guess_and_is_not_warned_about(tmp_path: Path) -> None:
    source = tmp_path / "klienci.csv"
    source.write_bytes(polish_csv().encode("cp1250"))
    result = check(source, "--encoding", "cp1252", "--valid", tmp_path / "ok.csv")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    # What the user asked for, garbled as it is: cp1250's Ł is cp1252's £.
    assert "£ukasz ¯ó³æ" in (tmp_path / "ok.csv").read_text(encoding="utf-8")


@pytest.mark.parametrize("prefix, encoding", [
    (b"", "utf-8"), (codecs.BOM_UTF8, "utf-8-sig")])
def test_utf8_with_or_without_bom_is_taken_without_a_warning(
        tmp_path: Path, prefix: bytes, encoding: str) -> None:
    source = tmp_path / "contacts.csv"
    source.write_bytes(prefix + polish_csv().encode("utf-8"))
    result = check(source, "--valid", tmp_path / "ok.csv")
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    assert "Łukasz Żółć" in (tmp_path / "ok.csv").read_text(encoding="utf-8-sig")
    assert detect(source.read_bytes()).encoding == encoding


def test_utf16_with_a_bom_is_certain() -> None:
    text = polish_csv()
    for encoding in ("utf-16", "utf-32"):
        guess = detect(text.encode(encoding))  # Python writes the BOM
        assert (guess.encoding, guess.confidence) == (encoding, None)
        assert guess.warning("x.csv") is None


def test_utf8_cut_inside_a_character_is_still_utf8() -> None:
    data = polish_csv().encode("utf-8")
    cut = data.index("Ł".encode()) + 1
    assert detect(data[:cut]).encoding == "utf-8"


def test_utf8_is_recognised_without_charset_normalizer() -> None:
    # The fast path: most files are UTF-8, and the guesser costs tens of milliseconds.
    code = ("import sys; from validator.batch._encoding import detect; "
            "detect('Łukasz Żółć'.encode()); detect(b'\\xef\\xbb\\xbfa'); "
            "print('charset_normalizer' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("encoding", ["cp1250", "iso8859-2"])
def test_polish_code_pages_are_told_apart_from_look_alikes(encoding: str) -> None:
    # A few repeated names: charset-normalizer's own first choice is cp1252 / ISO 8859-10 here.
    names = ["Łukasz Żółć", "Grzegorz Brzęczyszczykiewicz", "Małgorzata Wąs", "Paweł Ślusarczyk"]
    text = "email,name\n" + "".join(f"u{i}@example.com,{names[i % 4]}\n" for i in range(2000))
    guess = detect(text.encode(encoding))
    assert guess.encoding == encoding
    assert guess.confidence is not None and 0.5 < guess.confidence <= 1.0


def test_cyrillic_and_western_code_pages() -> None:
    russian = "email,name\n" + "".join(f"u{i}@example.ru,Иван Петров\n" for i in range(50))
    assert detect(russian.encode("cp1251")).encoding == "cp1251"
    french = "email,name\nx@example.fr,François Œuvre à la crème brûlée\n"
    assert detect(french.encode("cp1252")).encoding == "cp1252"


def test_bytes_no_encoding_explains_are_read_as_utf8_and_their_rows_refused(
        tmp_path: Path) -> None:
    rng = random.Random(3)
    junk = bytes(rng.randrange(0x80, 0x100) for _ in range(300))
    guess = detect(b"email,name\n" + junk)
    assert guess.encoding == "utf-8" and guess.confidence == 0.0
    source = tmp_path / "odd.csv"
    source.write_bytes(b"email,name,campaign.campaignId\nx@example.com," + junk + b",pV3r\n")
    result = check(source, "--rejects", tmp_path / "bad.jsonl")
    assert result.returncode == 1, result.stderr
    assert "the encoding could not be recognised; read as UTF-8" in result.stderr
    (reject,) = (json.loads(line) for line in (tmp_path / "bad.jsonl").read_text().splitlines())
    assert reject["error"]["code"] == 1000


# Names as list owners' Windows tools write them, in the code page of each language. The
# guess must read them back exactly: on such small samples charset-normalizer alone takes a
# Spanish cp1252 file for cp1250 ("Núńez"), a French one for cp1250 ("Crčme"), a Turkish
# cp1254 one for cp1252 ("Ayþe"), a repetitive Polish cp1250 one for cp1251, a Greek one for
# cp1251.
_LANGUAGES = {
    "es": ("cp1252", ["José", "María", "Iñigo", "Núria", "Óscar", "Ángel"],
           ["Peña", "Núñez", "Muñoz", "Ibáñez", "García"], ["Córdoba", "Málaga", "León"]),
    "fr": ("cp1252", ["François", "Hélène", "Jérôme", "Zoé", "Noël", "Marc"],
           ["Lefèvre", "Bézier", "Château", "Crème", "Dubois"], ["Besançon", "Orléans"]),
    "de": ("cp1252", ["Jürgen", "Björn", "Günther", "Käthe", "Hans"],
           ["Müller", "Groß", "Schäfer", "Köhler", "Weiß"], ["München", "Köln"]),
    "pl": ("cp1250", FIRST, LAST, CITIES),
    "cz": ("cp1250", ["Jiří", "Tomáš", "Šárka", "Zdeněk"], ["Dvořák", "Černý", "Kučera"],
           ["Plzeň", "Ústí"]),
    "hu": ("iso8859-2", ["Ödön", "Győző", "Ágnes", "Éva"], ["Kovács", "Szőke", "Fülöp"],
           ["Győr", "Pécs"]),
    "tr": ("cp1254", ["Şükrü", "Çağlar", "Gökhan", "Ayşe", "İsmail"],
           ["Öztürk", "Yılmaz", "Şahin", "Doğan"], ["İzmir", "Muğla"]),  # noqa: RUF001 (Turkish dotless i)
    "gr": ("cp1253", ["Γιώργος", "Μαρία", "Νίκος", "Ελένη"], ["Παπαδόπουλος", "Οικονόμου"],
           ["Αθήνα", "Πάτρα"]),
    "ru": ("cp1251", ["Иван", "Александр", "Ольга", "Наталья"], ["Петров", "Смирнов"],
           ["Москва", "Казань"]),
}


@pytest.mark.parametrize("rows", [20, 300])
@pytest.mark.parametrize("language", sorted(_LANGUAGES))
def test_each_languages_code_page_reads_its_names_back(language: str, rows: int) -> None:
    encoding, first, last, cities = _LANGUAGES[language]
    rng = random.Random(rows)
    text = "email,firstName,lastName,city\r\n" + "".join(
        f"u{i}@example.com,{rng.choice(first)},{rng.choice(last)},{rng.choice(cities)}\r\n"
        for i in range(rows))
    data = text.encode(encoding)
    guess = detect(data)
    assert data.decode(guess.encoding) == text, (language, guess)
    assert guess.confidence is not None and 0.0 < guess.confidence <= 1.0


def test_one_name_repeated_is_read_in_its_code_page() -> None:
    text = "email,name\n" + "".join(f"u{i}@example.com,Łukasz Żółć {i}\n" for i in range(50))
    assert detect(text.encode("cp1250")).encoding == "cp1250"  # was cp1251: "Ѓukasz"


def test_code_pages_reading_a_file_alike_are_named_by_the_most_common() -> None:
    # cp1250, cp1252 and ISO 8859-1/-15 read äöüß alike: a German export is named cp1252.
    text = "email,name\n" + "".join(f"u{i}@example.de,Jürgen Müller-Groß {i}\n" for i in range(50))
    assert detect(text.encode("cp1252")).encoding == "cp1252"
