"""Local DNS servers for the deliverability tests and the MX benchmark.

Two independent servers serve the same zone data on 127.0.0.1 at a free high port:

* :class:`ZoneServer`, an authoritative server built on dnslib's server classes (UDP and TCP),
  with fault names (SERVFAIL, REFUSED, a name that is never answered, names answered late)
  and a generated benchmark zone;
* :class:`DnsmasqServer`, dnsmasq started with the zone expressed as command-line records.

plus :class:`BlackHole`, a bound UDP socket that never replies (a nameserver that is down).

Every address in the zone data is record content only: nothing ever connects to it.

Run ``python tests/dns_server.py [LATENCY_MS]`` to serve the zone from a separate process (the
benchmark does, so that the server does not share the interpreter lock with the code being
measured); every answer is delayed by LATENCY_MS if given. It prints ``PORT <n>`` once
listening and stops when its standard input closes.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from dnslib import AAAA, CNAME, MX, QTYPE, RCODE, RR, SOA, TXT, A, DNSLabel, DNSRecord
from dnslib.server import BaseResolver

ZONE_APEX = "dnstest.example"  # .example (RFC 2606) is never delegated, and email-validator
# accepts it, unlike .test, which it refuses before any DNS check.
BENCH_SUFFIX = f"bench.{ZONE_APEX}"
SOA_TTL = 3600
SOA_MINIMUM = 120  # negative answers may be cached min(SOA_TTL, SOA_MINIMUM) = 120 s
NEGATIVE_TTL = min(SOA_TTL, SOA_MINIMUM)
DEFAULT_TTL = 3600

GLOBAL_V4 = "93.184.215.14"
GLOBAL_V4_B = "93.184.215.15"
GLOBAL_V6 = "2606:4700:4700::1111"
PRIVATE_V4 = "10.11.12.13"
PRIVATE_V6 = "fd00::1"


def _n(label: str) -> str:
    return f"{label}.{ZONE_APEX}"


@dataclass(frozen=True)
class Rec:
    name: str
    rtype: str  # "MX", "A", "AAAA", "TXT", "CNAME"
    value: tuple[str, ...]  # MX: (preference, host); TXT: the strings of one record
    ttl: int = DEFAULT_TTL


BIG_TXT_STRINGS = tuple(f"filler-{i:02d}-" + "x" * 180 for i in range(6))

RECORDS: tuple[Rec, ...] = (
    Rec(_n("mx"), "MX", ("20", _n("mx2.mail"))),
    Rec(_n("mx"), "MX", ("10", _n("mx1.mail"))),
    Rec(_n("mx1.mail"), "A", (GLOBAL_V4,)),
    Rec(_n("mx2.mail"), "A", (GLOBAL_V4_B,)),
    Rec(_n("a-only"), "A", (GLOBAL_V4,)),
    Rec(_n("aaaa-only"), "AAAA", (GLOBAL_V6,)),
    Rec(_n("private-a"), "A", (PRIVATE_V4,)),
    Rec(_n("private-both"), "A", (PRIVATE_V4,)),
    Rec(_n("private-both"), "AAAA", (PRIVATE_V6,)),
    Rec(_n("mixed-a"), "A", (PRIVATE_V4,)),
    Rec(_n("mixed-a"), "A", (GLOBAL_V4,)),
    Rec(_n("null-mx"), "MX", ("0", ".")),
    Rec(_n("txt-only"), "TXT", ("hello",)),
    Rec(_n("xn--bcher-kva"), "MX", ("10", _n("mx1.mail"))),  # bücher
    Rec(_n("ttl0"), "A", (GLOBAL_V4,), ttl=0),
    Rec(_n("ttl0-mx"), "MX", ("10", _n("mx1.mail")), ttl=0),
    Rec(_n("spf-reject"), "A", (GLOBAL_V4,)),
    Rec(_n("spf-reject"), "TXT", ("v=spf1 -all",)),
    Rec(_n("spf-ok"), "A", (GLOBAL_V4,)),
    Rec(_n("spf-ok"), "TXT", (f"v=spf1 ip4:{GLOBAL_V4} -all",)),
    Rec(_n("cname"), "CNAME", (_n("mx"),)),
    # A CNAME loop: the names exist, yet nothing they lead to does (dnslib only, see
    # dnsmasq_args).
    Rec(_n("loop-a"), "CNAME", (_n("loop-b"),)),
    Rec(_n("loop-b"), "CNAME", (_n("loop-a"),)),
    # Too big for a 512-byte UDP answer: the client must retry over TCP to see the SPF record.
    Rec(_n("big-txt"), "A", (GLOBAL_V4,)),
    *(Rec(_n("big-txt"), "TXT", (s,)) for s in BIG_TXT_STRINGS),
    Rec(_n("big-txt"), "TXT", ("v=spf1 -all",)),
)

SERVFAIL_NAME = _n("servfail")
REFUSED_NAME = _n("refused")
SILENT_NAME = _n("blackhole")  # never answered: a timeout behind a live server
LOOP_NAME = _n("loop-a")
LOOP_NAMES = frozenset({LOOP_NAME, _n("loop-b")})
# slow-<ms>[-<anything>].dnstest.example: an MX answer sent <ms> milliseconds late (dnslib only).
SLOW_RE = re.compile(rf"^slow-(\d+)(?:-[a-z0-9-]+)?\.{re.escape(ZONE_APEX)}$")
BENCH_RE = re.compile(rf"^d\d+\.{re.escape(BENCH_SUFFIX)}$")


@dataclass(frozen=True)
class Case:
    """One zone case and the verdict it must get."""

    domain: str
    status: str
    reason: str | None = None  # exact, where it does not depend on the server
    mx: tuple[tuple[int, str], ...] = ()
    fallback: str | None = None
    dnsmasq: bool = True  # dnsmasq can express it (see dnsmasq_args for why not)
    lifetime: str = ""  # "positive", "negative", "ttl0": what its cache lifetime rests on

    @property
    def id(self) -> str:
        return self.domain.removesuffix("." + ZONE_APEX)


def _not_accept(d: str) -> str:
    return f"The domain name {d} does not accept email."


MX_HOSTS = ((10, _n("mx1.mail")), (20, _n("mx2.mail")))

CASES: tuple[Case, ...] = (
    Case(_n("mx"), "deliverable", mx=MX_HOSTS, lifetime="positive"),
    Case(_n("a-only"), "deliverable", mx=((0, _n("a-only")),), fallback="A", lifetime="negative"),
    Case(_n("aaaa-only"), "deliverable", mx=((0, _n("aaaa-only")),), fallback="AAAA"),
    Case(_n("mixed-a"), "deliverable", mx=((0, _n("mixed-a")),), fallback="A"),
    Case(_n("spf-ok"), "deliverable", mx=((0, _n("spf-ok")),), fallback="A"),
    Case(_n("cname"), "deliverable", mx=MX_HOSTS, lifetime="positive"),
    Case(_n("xn--bcher-kva"), "deliverable", mx=((10, _n("mx1.mail")),), lifetime="positive"),
    Case(_n("ttl0"), "deliverable", mx=((0, _n("ttl0")),), fallback="A", lifetime="ttl0"),
    # dnsmasq's --mx-host has no TTL field (--local-ttl is one TTL for all local records).
    Case(_n("ttl0-mx"), "deliverable", mx=((10, _n("mx1.mail")),), dnsmasq=False, lifetime="ttl0"),
    Case(_n("private-a"), "undeliverable", _not_accept(_n("private-a"))),
    Case(_n("private-both"), "undeliverable", _not_accept(_n("private-both"))),
    Case(_n("null-mx"), "undeliverable", _not_accept(_n("null-mx")), lifetime="positive"),
    Case(_n("txt-only"), "undeliverable", _not_accept(_n("txt-only")), lifetime="negative"),
    Case(
        _n("nxdomain"),
        "undeliverable",
        f"The domain name {_n('nxdomain')} does not exist.",
        lifetime="negative",
    ),
    Case(
        _n("xn--mnchen-3ya"),  # münchen: not in the zone; the message names it in Unicode
        "undeliverable",
        f"The domain name münchen.{ZONE_APEX} does not exist.",
        lifetime="negative",
    ),
    Case(
        _n("spf-reject"),
        "undeliverable",
        f"The domain name {_n('spf-reject')} does not send email.",
    ),
    Case(_n("big-txt"), "undeliverable", f"The domain name {_n('big-txt')} does not send email."),
    Case(SERVFAIL_NAME, "unknown"),
    Case(REFUSED_NAME, "unknown"),
    Case(SILENT_NAME, "unknown"),
    Case(LOOP_NAME, "unknown", dnsmasq=False),
)

FAULT_DOMAINS = frozenset({SERVFAIL_NAME, REFUSED_NAME, SILENT_NAME, LOOP_NAME})


def bench_domain(i: int) -> str:
    return f"d{i:05d}.{BENCH_SUFFIX}"


def bench_domains(n: int) -> list[str]:
    return [bench_domain(i) for i in range(1, n + 1)]


# --------------------------------------------------------------------------------------------
# dnslib server
# --------------------------------------------------------------------------------------------


class _Drop:
    """A resolver result meaning: send nothing (or, with a delay, send the reply later)."""

    def __init__(self, reply: DNSRecord | None = None, delay: float = 0.0) -> None:
        self.reply = reply
        self.delay = delay


class ZoneResolver(BaseResolver):  # type: ignore[misc]
    """Answers from RECORDS as the authoritative server of ZONE_APEX, and counts questions.

    A liar (``liar=True``) answers NXDOMAIN for every name, in the zone or not, as captive and
    broken resolvers do; it still counts the questions.
    """

    def __init__(self, records: tuple[Rec, ...] = RECORDS, *, liar: bool = False) -> None:
        self.liar = liar
        self.rrs: dict[tuple[str, str], list[RR]] = {}
        self.names: set[str] = set()
        for rec in records:
            self.rrs.setdefault((rec.name, rec.rtype), []).append(_to_rr(rec))
            # Every name between a record's owner and the apex exists (empty non-terminals
            # answer NODATA, not NXDOMAIN).
            labels = rec.name.split(".")
            for i in range(len(labels)):
                self.names.add(".".join(labels[i:]))
        self.soa = RR(
            ZONE_APEX,
            QTYPE.SOA,
            ttl=SOA_TTL,
            rdata=SOA(_n("ns"), _n("hostmaster"), (1, 3600, 600, 86400, SOA_MINIMUM)),
        )
        self.counts: Counter[tuple[str, str]] = Counter()
        self.latency = 0.0  # added to every answer, to stand in for a resolver far away
        self.inflight = 0
        self.max_inflight = 0
        self._lock = threading.Lock()

    def queries(self, name: str | None = None, qtype: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (qn, qt), n in self.counts.items()
                if (name is None or qn == name) and (qtype is None or qt == qtype)
            )

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.max_inflight = 0

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord | _Drop:
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self._lock:
            self.counts[(qname, qtype)] += 1
        reply = request.reply()
        if self.liar:
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(self.soa)
            return reply
        if qname == SERVFAIL_NAME:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if qname == REFUSED_NAME or not (qname == ZONE_APEX or qname.endswith("." + ZONE_APEX)):
            reply.header.rcode = RCODE.REFUSED
            return reply
        if qname == SILENT_NAME:
            return _Drop()
        slow = SLOW_RE.match(qname)
        if slow:
            if qtype == "MX":
                reply.add_answer(RR(qname, QTYPE.MX, ttl=DEFAULT_TTL, rdata=MX(_n("mx1.mail"), 10)))
            else:
                reply.add_auth(self.soa)
            return _Drop(reply, int(slow.group(1)) / 1000)
        if BENCH_RE.match(qname):
            if qtype == "MX":
                rdata = MX(f"mx.{BENCH_SUFFIX}", 10)
                reply.add_answer(RR(qname, QTYPE.MX, ttl=DEFAULT_TTL, rdata=rdata))
            else:
                reply.add_auth(self.soa)
            return reply
        name = qname
        for _ in range(8):
            cname = self.rrs.get((name, "CNAME"))
            if cname and qtype != "CNAME":
                reply.add_answer(*cname)
                name = str(cname[0].rdata.label).rstrip(".")
                continue
            break
        answers = self.rrs.get((name, qtype))
        if answers:
            reply.add_answer(*answers)
        elif name in self.names:
            reply.add_auth(self.soa)
        else:
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(self.soa)
        return reply


def _to_rr(rec: Rec) -> RR:
    if rec.rtype == "MX":
        rdata: object = MX(rec.value[1], int(rec.value[0]))
    elif rec.rtype == "A":
        rdata = A(rec.value[0])
    elif rec.rtype == "AAAA":
        rdata = AAAA(rec.value[0])
    elif rec.rtype == "TXT":
        rdata = TXT(list(rec.value))
    elif rec.rtype == "CNAME":
        rdata = CNAME(rec.value[0])
    else:
        raise ValueError(rec.rtype)
    return RR(DNSLabel(rec.name), getattr(QTYPE, rec.rtype), ttl=rec.ttl, rdata=rdata)


class _Handler(socketserver.BaseRequestHandler):
    server: _UDPServer | _TCPServer  # type: ignore[assignment]

    def handle(self) -> None:
        tcp = self.server.socket_type == socket.SOCK_STREAM
        if tcp:
            conn = self.request
            while True:
                head = _recv_exact(conn, 2)
                if head is None:
                    return
                data = _recv_exact(conn, struct.unpack("!H", head)[0])
                if data is None:
                    return
                out = self._answer(data, tcp=True)
                if out is not None:
                    conn.sendall(struct.pack("!H", len(out)) + out)
        else:
            data, sock = self.request
            out = self._answer(data, tcp=False)
            if out is not None:
                sock.sendto(out, self.client_address)

    def _answer(self, data: bytes, *, tcp: bool) -> bytes | None:
        try:
            request = DNSRecord.parse(data)
        except Exception:
            return None
        result = self.server.resolver.resolve(request, self)
        delay = self.server.resolver.latency
        if isinstance(result, _Drop):
            if result.reply is None:
                return None
            delay += result.delay
            result = result.reply
        wire = self._pack(result, request, tcp)
        if delay <= 0:
            return wire
        if tcp:
            time.sleep(delay)
            return wire
        self._later(wire, delay)
        return None

    def _pack(self, reply: DNSRecord, request: DNSRecord, tcp: bool) -> bytes:
        wire = bytes(reply.pack())
        if tcp:
            return wire
        limit = 512
        for rr in request.ar:
            if rr.rtype == QTYPE.OPT:
                limit = max(512, rr.rclass)
        if len(wire) > limit:
            # Not dnslib's DNSRecord.truncate(): it drops the question, and resolvers reject
            # an answer that does not repeat the question asked.
            cut = request.reply()
            cut.header.tc = 1
            wire = bytes(cut.pack())
        return wire

    def _later(self, wire: bytes, delay: float) -> None:
        _, sock = self.request
        client = self.client_address
        resolver = self.server.resolver
        with resolver._lock:
            resolver.inflight += 1
            resolver.max_inflight = max(resolver.max_inflight, resolver.inflight)

        def send() -> None:
            with resolver._lock:
                resolver.inflight -= 1
            with contextlib.suppress(OSError):
                sock.sendto(wire, client)

        timer = threading.Timer(delay, send)
        timer.daemon = True
        timer.start()


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class _UDPServer(socketserver.UDPServer):
    # One thread answers every datagram: answers are computed in microseconds, and a thread per
    # datagram would make the server, not the client, the benchmark's bottleneck.
    allow_reuse_address = False
    resolver: ZoneResolver
    max_packet_size = 65535


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True
    resolver: ZoneResolver


class ZoneServer:
    """The dnslib-based authoritative server, on UDP and TCP at the same free port."""

    name = "dnslib"
    negative_soa_ttl: float | None = NEGATIVE_TTL

    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0,
                 *, liar: bool = False) -> None:
        self.host = host
        self.resolver = ZoneResolver(liar=liar)
        self.resolver.latency = latency
        self._requested_port = port
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []
        self.port = 0

    def start(self) -> ZoneServer:
        last: OSError | None = None
        for _ in range(20):
            try:
                udp = _UDPServer((self.host, self._requested_port), _Handler)
            except OSError as e:
                last = e
                continue
            port = udp.server_address[1]
            try:
                tcp = _TCPServer((self.host, port), _Handler)
            except OSError as e:
                udp.server_close()
                last = e
                if self._requested_port:
                    break
                continue
            udp.resolver = tcp.resolver = self.resolver
            self._servers = [udp, tcp]
            self.port = port
            break
        else:
            raise RuntimeError(f"could not bind UDP and TCP on one port: {last}")
        if not self._servers:
            raise RuntimeError(f"could not bind UDP and TCP on port {self._requested_port}: {last}")
        for srv in self._servers:
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
            t.daemon = True
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._servers = []
        self._threads = []

    def cases(self) -> tuple[Case, ...]:
        return CASES

    def queries(self, name: str | None = None, qtype: str | None = None) -> int:
        return self.resolver.queries(name, qtype)

    def __enter__(self) -> ZoneServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class BlackHole:
    """A nameserver address that never answers: a bound UDP socket nobody reads."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.port: int = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> BlackHole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# dnsmasq
# --------------------------------------------------------------------------------------------


def dnsmasq_binary() -> str | None:
    # /usr/sbin is not on every user's PATH.
    found = shutil.which("dnsmasq") or shutil.which("dnsmasq", path="/usr/sbin:/sbin")
    return found


def dnsmasq_args(port: int, *, servfail_upstream: int, silent_upstream: int) -> list[str]:
    """dnsmasq's command line for the zone.

    What dnsmasq cannot express, and how it is handled:

    * per-record TTLs on MX and TXT: ``--mx-host``/``--txt-record`` have no TTL field and
      ``--local-ttl`` sets one TTL for every local record, so TTL 0 is exercised with an A
      record (``--host-record`` has a TTL) and the ttl0-mx case runs on dnslib only;
    * an SOA in negative answers: dnsmasq's local-only answers (``--local``) carry none, so
      negative verdicts are cached for DNSCache's ``negative_ttl`` instead of the SOA's value;
    * SERVFAIL: dnsmasq gives it for no local data, only when relaying an upstream's SERVFAIL,
      so the servfail name is forwarded to the dnslib server, which answers SERVFAIL;
    * a name it never answers: forwarded to a black-hole socket (dnsmasq then stays silent);
    * a CNAME loop: dnsmasq refuses to start with one ("CNAME loop involving ..."), so the loop
      names run on dnslib only;
    * REFUSED needs no help: a name with no upstream (``--server=/name/#`` under
      ``--no-resolv``) is refused by dnsmasq itself;
    * the generated benchmark zone and the slow-answer names: dnslib only.
    """
    args = [
        f"--port={port}",
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-daemon",
        "--no-resolv",
        "--no-hosts",
        "--conf-file=/dev/null",  # no /etc/dnsmasq.conf, no /etc/dnsmasq.d
        "--pid-file=",  # none: several test runs may start their own dnsmasq
        "--cache-size=0",
        "--no-negcache",
        f"--local-ttl={DEFAULT_TTL}",
        f"--local=/{ZONE_APEX}/",
        f"--server=/{SERVFAIL_NAME}/127.0.0.1#{servfail_upstream}",
        f"--server=/{SILENT_NAME}/127.0.0.1#{silent_upstream}",
        f"--server=/{REFUSED_NAME}/#",
    ]
    for rec in RECORDS:
        if rec.rtype == "MX":
            if rec.ttl != DEFAULT_TTL:
                continue
            args.append(f"--mx-host={rec.name},{rec.value[1]},{rec.value[0]}")
        elif rec.rtype in ("A", "AAAA"):
            ttl = "" if rec.ttl == DEFAULT_TTL else f",{rec.ttl}"
            args.append(f"--host-record={rec.name},{rec.value[0]}{ttl}")
        elif rec.rtype == "TXT":
            if any("," in s or '"' in s for s in rec.value):
                raise ValueError(f"cannot pass {rec.value!r} to dnsmasq")
            args.append(f"--txt-record={rec.name}," + ",".join(rec.value))
        elif rec.rtype == "CNAME" and rec.name not in LOOP_NAMES:
            args.append(f"--cname={rec.name},{rec.value[0]}")
    return args


def _free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port: int = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


@dataclass
class DnsmasqServer:
    """dnsmasq serving the zone (the cases it can express) on 127.0.0.1 at a free high port."""

    binary: str
    servfail_upstream: int
    silent_upstream: int
    host: str = "127.0.0.1"
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: str = ""
    _logfile: object = field(default=None, repr=False)

    name = "dnsmasq"
    negative_soa_ttl: float | None = None

    def start(self, wait: float = 10.0) -> DnsmasqServer:
        last_error = ""
        for _ in range(5):
            self.port = _free_port(self.host)
            log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
            args = dnsmasq_args(
                self.port,
                servfail_upstream=self.servfail_upstream,
                silent_upstream=self.silent_upstream,
            )
            self.proc = subprocess.Popen(
                [self.binary, *args], stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
            self._logfile = log
            if self._wait_ready(wait):
                return self
            last_error = self._read_log()
            self.stop()
        raise RuntimeError(f"dnsmasq did not start: {last_error}")

    def _wait_ready(self, wait: float) -> bool:
        import dns.message
        import dns.query

        deadline = time.monotonic() + wait
        probe = dns.message.make_query(_n("mx"), "MX")
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                dns.query.udp(probe, self.host, port=self.port, timeout=0.2)
                return True
            except Exception:
                time.sleep(0.05)
        return False

    def _read_log(self) -> str:
        f = self._logfile
        if f is None:
            return ""
        f.seek(0)  # type: ignore[attr-defined]
        return f.read().decode(errors="replace")[-2000:]  # type: ignore[attr-defined,no-any-return]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
            self.proc = None
        if self._logfile is not None:
            self._logfile.close()  # type: ignore[attr-defined]
            self._logfile = None

    def cases(self) -> tuple[Case, ...]:
        return tuple(c for c in CASES if c.dnsmasq)


def _main() -> int:
    # A separate process for the benchmark. Commands on stdin: STATS (questions by type and
    # the process's CPU seconds), RESET.
    latency = float(sys.argv[1]) / 1000 if len(sys.argv) > 1 else 0.0
    with ZoneServer(latency=latency) as server:
        print(f"PORT {server.port}", flush=True)
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "STATS":
                by_type: Counter[str] = Counter()
                with server.resolver._lock:
                    for (_, qt), n in server.resolver.counts.items():
                        by_type[qt] += n
                fields = [f"{k}={v}" for k, v in sorted(by_type.items())]
                fields.append(f"cpu={time.process_time():.3f}")
                print("STATS " + " ".join(fields), flush=True)
            elif cmd == "RESET":
                server.resolver.reset()
                print("OK", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
