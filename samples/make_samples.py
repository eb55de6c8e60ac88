"""Write samples/contacts.csv: realistic contacts with a known mix of faults.

    python samples/make_samples.py            # the bundled sample (400 rows, seed 4)
    validator check samples/contacts.csv --no-check-mx --campaign-id pV3r

The same generator feeds the benchmark (``contact_rows``), so that what is measured looks like
what the sample shows. Every faulty row has exactly one fault, so that the expected outcome of
each row is known; ``samples/contacts.expected.json`` lists them by kind.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

HEADER = ["email", "firstName", "name", "campaign.campaignId", "scoring", "tags",
          "customFieldValues.kL6Nh", "ipAddress", "dayOfCycle"]
# "firstName" is not a field of the API: a CRM export carries such columns, and the schema lets
# unknown properties through, as the API does.

FIRST = ["Anna", "Piotr", "Maria", "Jan", "Katarzyna", "Tomasz", "Julia", "Michał", "Olivia",
         "Liam", "Emma", "Noah", "Sophie", "Lucas", "Mia", "Ethan", "Zoë", "Mateo", "Chloé",
         "Jürgen", "Søren", "Aoife", "Giulia", "Pedro", "Yuki", "Priya", "Omar", "Fatima"]
LAST = ["Nowak", "Kowalski", "Wiśniewska", "Smith", "Johnson", "Brown", "García", "Müller",
        "Rossi", "Dubois", "O'Brien", "Tanaka", "Patel", "Hansen", "Novák", "Silva", "Lee"]
# Share of addresses per provider, roughly as in a European B2C list; the rest are companies.
PROVIDERS = [("gmail.com", 30), ("yahoo.com", 6), ("outlook.com", 6), ("hotmail.com", 6),
             ("icloud.com", 4), ("gmx.de", 4), ("wp.pl", 4), ("onet.pl", 3), ("o2.pl", 2),
             ("interia.pl", 2), ("web.de", 2), ("orange.fr", 2), ("libero.it", 1),
             ("protonmail.com", 1)]
COMPANY_WORDS = ["acme", "northwind", "contoso", "fabrikam", "globex", "initech", "umbrella",
                 "stark", "wayne", "tyrell", "cyberdyne", "hooli", "vandelay", "wonka"]
COMPANY_TLDS = ["com", "pl", "de", "co.uk", "fr", "io", "eu"]
CAMPAIGNS = ["pV3r", "kL6Nh", "Xa91"]
TAGS = ["vip", "b2b", "newsletter", "webinar2025", "trial", "lead", "partner"]
CITIES = ["Gdańsk", "Warszawa", "Berlin", "London", "Paris", "Kraków", "Madrid"]

# kind → share of faulty rows. "undeliverable" rows are valid when MX checks are off.
FAULTS = [("email-syntax", 20), ("email-missing", 8), ("scoring-text", 12), ("campaign-id", 8),
          ("name-too-long", 6), ("ip-address", 8), ("day-of-cycle", 8), ("tag-id", 6),
          ("duplicate", 12), ("malformed-row", 6), ("undeliverable", 6)]
BAD_EMAILS = ["{u}@@{d}", "{u} {u}@{d}", "{u}..x@{d}", "{u}@{d}.", "{u}.{d}", "{u}@localhost",
              "{u}@{d},", "<{u}@{d}>"]


def _weighted(rng: random.Random, table: list[tuple[str, int]]) -> str:
    return rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]


def _ascii(text: str) -> str:
    table = str.maketrans("ąćęłńóśźżäöüßøéèëçñõãìíùúåæáý", "acelnoszzaousoeeecnoaiiuuaaay")
    return "".join(c for c in text.lower().translate(table) if c.isalnum() or c in "._-")


def company_domains(count: int, rng: random.Random) -> list[str]:
    return [f"{rng.choice(COMPANY_WORDS)}{i}.{rng.choice(COMPANY_TLDS)}" for i in range(count)]


def contact_rows(n: int, *, seed: int, fault_rate: float, companies: int = 2000,
                 domains: list[str] | None = None) -> Iterator[tuple[list[str], str]]:
    """``n`` CSV rows (cells in HEADER order) with the kind of fault each has ("" for none).

    ``domains`` replaces the realistic domain mix (the MX benchmark uses its test zone)."""
    rng = random.Random(seed)
    pool = company_domains(companies, rng)
    emitted: list[tuple[str, str]] = []
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        if domains is not None:
            domain = domains[int(rng.paretovariate(1.2)) % len(domains)]
        elif rng.random() < 0.75:
            domain = _weighted(rng, PROVIDERS)
        else:
            domain = pool[int(rng.paretovariate(1.1)) % len(pool)]
        user = f"{_ascii(first)}.{_ascii(last)}{i}"
        email = f"{user}@{domain}"
        campaign = rng.choice(CAMPAIGNS)
        row = [email, first, f"{first} {last}", campaign,
               str(rng.randint(0, 100)) if rng.random() < 0.7 else "",
               "|".join(rng.sample(TAGS, rng.randint(0, 3))),
               rng.choice(CITIES) if rng.random() < 0.5 else "",
               f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}."
               f"{rng.randint(1, 254)}" if rng.random() < 0.4 else "",
               str(rng.randint(0, 30)) if rng.random() < 0.3 else ""]
        kind = _weighted(rng, FAULTS) if rng.random() < fault_rate else ""
        if kind == "duplicate" and not emitted:
            kind = ""
        if kind == "email-syntax":
            row[0] = rng.choice(BAD_EMAILS).format(u=user, d=domain)
        elif kind == "email-missing":
            row[0] = ""
        elif kind == "scoring-text":
            row[4] = rng.choice(["high", "n/a", "12,5", "ten"])
        elif kind == "campaign-id":
            row[3] = rng.choice(["camp-01", "Main list", "pV3r!"])
        elif kind == "name-too-long":
            row[2] = (f"{first} {last} " * 40)[:129] + "x"
        elif kind == "ip-address":
            row[7] = rng.choice(["300.1.2.3", "10.0.0", "localhost"])
        elif kind == "day-of-cycle":
            row[8] = rng.choice(["day3", "-1", "1.5"])
        elif kind == "tag-id":
            row[5] = rng.choice(["vip|new customer", "b2b|", "t@g"])
            if row[5] == "b2b|":
                row[5] = "b2b|vip!"
        elif kind == "duplicate":
            earlier_email, earlier_campaign = emitted[rng.randrange(len(emitted))]
            row[0] = earlier_email.upper() if rng.random() < 0.3 else earlier_email
            row[3] = earlier_campaign
        elif kind == "malformed-row":
            row = row[:3]
        elif kind == "undeliverable":
            # With a zone of its own (the benchmark's), the missing domain must be in that zone,
            # where its server answers NXDOMAIN; the public root would answer for ".com".
            suffix = domains[0].split(".", 1)[1] if domains else "com"
            row[0] = f"{user}@no-such-domain-{i:06d}.{suffix}"
        if not kind:
            emitted.append((email, campaign))
            if len(emitted) > 5000:
                emitted = emitted[-2500:]
        yield row, kind


def write_csv(path: Path, n: int, *, seed: int, fault_rate: float) -> Counter[str]:
    kinds: Counter[str] = Counter()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for row, kind in contact_rows(n, seed=seed, fault_rate=fault_rate):
            writer.writerow(row)
            kinds[kind or "valid"] += 1
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("contacts.csv"))
    args = parser.parse_args()
    kinds = write_csv(args.out, args.rows, seed=args.seed, fault_rate=args.fault_rate)
    expected = args.out.with_suffix(".expected.json")
    expected.write_text(json.dumps(dict(sorted(kinds.items())), indent=2) + "\n",
                        encoding="utf-8")
    print(f"wrote {args.rows} rows to {args.out}: " +
          ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))


if __name__ == "__main__":
    main()
