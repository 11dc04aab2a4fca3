"""Benchmark: the webhook over real HTTP, as a fraction of a bare Flask responder in the same run.

Each server is started here in its own gunicorn and driven, one after the other, with the same
load: signed Twilio WhatsApp forms, a unique MessageSid each, 1,000 senders each writing in one
language variety (questions from the understanding eval sets: hundreds of distinct texts), a new
connection per request (`Connection: close`, as Twilio's deliveries arrive):

- `bare`: bench/bare_responder.py, which parses the form and answers a fixed TwiML;
- `floor`: bench/floor_responder.py, the least the deployment stack can do (signature, form
  model, contact upsert and message insert in one PostgreSQL transaction, an rq enqueue), to
  tell what the bot's own work costs above its stack's;
- `queued`: the deployment shape, `healthbot serve` on PostgreSQL and Redis with answers queued
  (store, commands, rules, enqueue; the answer is left to the workers);
- `embedded`: `healthbot serve` as a newcomer runs it (SQLite, the offline answer inline, the
  bundled encoder), with serve's default processes and threads;
- `lexical`: the same with HEALTHBOT_EMBEDDINGS=none (words only, no encoder), which shows what
  the rest of the embedded path costs.

The load comes from wrk when it is installed (`apt-get install wrk`), else from a Python load
generator (slower: it shares the cores and the GIL, so the ratios are then only indicative).
For each run it reads from /proc the CPU the server's processes, PostgreSQL and Redis used per
request. It then runs each bot shape in-process, single-threaded, over the Flask test client,
counting the SQL statements, transactions and Redis commands one inbound message costs; starts
a queue worker on the queued messages (sending to a fake Twilio) and reads its memory; and times
`safety.assess`.

Run: `.venv/bin/python bench/bench_http.py [--duration 10] [--connections 4,16]`
(needs PostgreSQL and Redis for the queued shape; `--shapes bare,embedded` runs without them).
It creates and drops its own database, `healthbot_bench`, and uses Redis database 14.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twilio.request_validator import RequestValidator  # noqa: E402

TOKEN = "bench-auth-token"
ACCOUNT = "AC" + "b" * 32
BOT_NUMBER = "whatsapp:+14155238886"
PATH = "/twilio/whatsapp"
PG_ADMIN = "postgresql+psycopg://127.0.0.1:5432/postgres"
PG_DB = "healthbot_bench"
REDIS = "redis://127.0.0.1:6379/14"
SENDERS = 1000
# Each sender writes in one language, from a number of a country where it is spoken.
PREFIXES = {"en": "+447700", "pcm": "+234803", "sw": "+254712", "hi": "+919876",
            "hinglish": "+919812", "pt": "+551198", "fr": "+336120", "es": "+521555"}

WRK_SCRIPT = r"""
-- Each wrk thread sends its own stripe of the pre-signed requests, one per line.
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  lines = {}
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
  step = tonumber(args[2])
  idx = id
end
function request()
  local line = lines[(idx % #lines) + 1]
  idx = idx + step
  local tab = line:find("\t", 1, true)
  return wrk.format("POST", "/twilio/whatsapp", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = line:sub(1, tab - 1),
    ["Connection"] = "close",
  }, line:sub(tab + 1))
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\": %d, \"duration_us\": %d, \"p50_us\": %d, \"p90_us\": %d, " ..
    "\"p99_us\": %d, \"max_us\": %d, \"status_errors\": %d, \"socket_errors\": %d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
"""


# --- the load ---------------------------------------------------------------------------------


def questions_by_language() -> dict[str, list[str]]:
    """Distinct first messages of the understanding eval sets' questions, by language."""
    texts: dict[str, dict[str, None]] = {}
    for name in ("answers_eval.jsonl", "answers_heldout.jsonl"):
        for line in (ROOT / "tests/understanding" / name).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            case = json.loads(line)
            if case.get("kind") in ("question", "follow_up") and case.get("turns"):
                texts.setdefault(case["language"], {}).setdefault(case["turns"][0].strip(), None)
    return {language: list(found) for language, found in sorted(texts.items())}


def questions() -> list[str]:
    return [t for texts in questions_by_language().values() for t in texts]


def senders(count: int = SENDERS) -> list[tuple[str, str]]:
    """`count` (WhatsApp sender, language): the same ones on every call."""
    rng = random.Random(7)
    languages = sorted(PREFIXES)
    out = []
    for i in range(count):
        language = languages[i % len(languages)]
        out.append((f"whatsapp:{PREFIXES[language]}{rng.randrange(10**6):06d}", language))
    return out


def signed_requests(public_url: str, count: int, seed: int,
                    people: int = SENDERS) -> list[tuple[str, str]]:
    """`count` (signature, urlencoded body) pairs with unique MessageSids, round-robin over
    `people` senders (so the first `people` requests are each one's first message)."""
    validator = RequestValidator(TOKEN)
    rng = random.Random(seed)
    texts, who = questions_by_language(), senders(people)
    url = public_url + PATH
    out = []
    for i in range(count):
        sid = "SM" + uuid.UUID(int=rng.getrandbits(128)).hex
        sender, language = who[i % len(who)]
        pool = texts[language]
        form = {"MessageSid": sid, "SmsMessageSid": sid, "AccountSid": ACCOUNT, "From": sender,
                "To": BOT_NUMBER, "Body": pool[(i * 7919) % len(pool)], "NumMedia": "0",
                "ProfileName": "Bench", "WaId": sender.removeprefix("whatsapp:+"),
                "SmsStatus": "received", "NumSegments": "1", "ApiVersion": "2010-04-01"}
        out.append((validator.compute_signature(url, form), urlencode(form)))
    return out


@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    tool: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(port: int, requests_file: Path, connections: int, duration: float,
            folder: Path) -> Load:
    script = folder / "signed.lua"
    script.write_text(WRK_SCRIPT, encoding="utf-8")
    threads = min(2, connections)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:.0f}s", "--timeout", "20s",
         "-s", str(script), f"http://127.0.0.1:{port}", "--", str(requests_file), str(threads)],
        capture_output=True, text=True, check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    return Load(requests=data["requests"], seconds=data["duration_us"] / 1e6,
                p50_ms=data["p50_us"] / 1000, p90_ms=data["p90_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                errors=data["status_errors"] + data["socket_errors"], tool="wrk")


def run_python_load(port: int, pairs: list[tuple[str, str]], connections: int,
                    duration: float) -> Load:
    """The fallback: one thread per connection, a new connection per request."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def client(offset: int) -> None:
        i = offset
        mine: list[float] = []
        while time.monotonic() < stop_at:
            signature, body = pairs[i % len(pairs)]
            i += connections
            start = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            try:
                conn.request("POST", PATH, body=body, headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": signature, "Connection": "close"})
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                ok = False
            finally:
                conn.close()
            mine.append(time.perf_counter() - start)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    began = time.monotonic()
    workers = [threading.Thread(target=client, args=(k,)) for k in range(connections)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seconds = time.monotonic() - began
    q = statistics.quantiles(sorted(latencies), n=100) if len(latencies) > 1 else [0.0] * 99
    return Load(requests=len(latencies), seconds=seconds, p50_ms=q[49] * 1000,
                p90_ms=q[89] * 1000, p99_ms=q[98] * 1000, errors=errors[0], tool="python")


# --- where the CPU goes -----------------------------------------------------------------------


def cpu_seconds(server_pgid: int) -> dict[str, float]:
    """CPU seconds used so far by the server under test, PostgreSQL, Redis, and the machine."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {"web": 0.0, "postgres": 0.0, "redis": 0.0}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            data = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = data[data.index("(") + 1:data.rindex(")")]
        fields = data[data.rindex(")") + 2:].split()
        used = (int(fields[11]) + int(fields[12])) / ticks
        if int(fields[2]) == server_pgid:
            out["web"] += used
        elif comm.startswith("postgres"):
            out["postgres"] += used
        elif comm.startswith("redis-server"):
            out["redis"] += used
    line = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    idle = int(line[3]) + int(line[4])
    out["machine"] = (sum(int(x) for x in line[:8]) - idle) / ticks
    return out


def cpu_per_request(before: dict[str, float], after: dict[str, float],
                    requests: int) -> dict[str, float]:
    """Milliseconds of CPU per request by component; "other" is wrk and the kernel's share."""
    used = {k: (after[k] - before[k]) * 1000 / max(requests, 1) for k in before}
    used["other"] = used.pop("machine") - used["web"] - used["postgres"] - used["redis"]
    return used


# --- the servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bot_env(folder: Path, shape: str, port: int, instance: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HEALTHBOT_", "TWILIO_", "DATABASE_URL", "REDIS_URL"))}
    env.update({
        "HEALTHBOT_INSTANCE_DIR": str(folder / (instance or shape)),
        "HEALTHBOT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "HEALTHBOT_SECRET_KEY": "bench-secret-key-" + "x" * 32,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_WHATSAPP_FROM": BOT_NUMBER,
        "HEALTHBOT_LOG_LEVEL": "WARNING",
    })
    if shape == "lexical":
        env["HEALTHBOT_EMBEDDINGS"] = "none"
    if shape == "queued":
        env.update({"DATABASE_URL": f"postgresql+psycopg://127.0.0.1:5432/{PG_DB}",
                    "REDIS_URL": REDIS, "HEALTHBOT_QUEUE": "bench",
                    "HEALTHBOT_ANSWER_DELIVERY": "queue", "HEALTHBOT_ACK_PENDING": "false"})
    return env


@contextmanager
def server(cmd: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[int]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited; see {log}:\n{log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{cmd} did not listen on {port}") from None
                time.sleep(0.2)
        yield proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def warm_up(port: int, pairs: list[tuple[str, str]]) -> None:
    """Every worker process builds its app and loads the encoder on its first requests."""
    run_python_load(port, pairs, connections=4, duration=4.0)


# --- databases --------------------------------------------------------------------------------


def reset_postgres() -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {PG_DB}"))
    engine.dispose()


def drop_postgres() -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
    engine.dispose()


def reset_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS).flushdb()


def services_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            pass
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            pass
    except OSError:
        return False
    return True


# --- per message, in-process -------------------------------------------------------------------


@dataclass
class Counts:
    messages: int = 0
    statements: int = 0
    transactions: int = 0
    checkouts: int = 0
    redis_commands: int = 0
    redis_by_command: dict[str, int] = field(default_factory=dict)
    ms: list[float] = field(default_factory=list)

    def per(self, value: float) -> float:
        return value / self.messages if self.messages else 0.0


def redis_commandstats() -> dict[str, int]:
    import redis

    stats = redis.Redis.from_url(REDIS).info("commandstats")
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}


def count_in_process(shape: str, folder: Path, messages: int) -> Counts:
    """Post `messages` signed webhooks through the Flask test client, one at a time."""
    from sqlalchemy import event

    from bot.app import create_app
    from bot.config import Settings

    public = "http://bench.local"
    env = bot_env(folder, shape, 0, instance=shape + "-inproc")
    values: dict[str, Any] = {k: v for k, v in env.items()
                              if k.startswith(("HEALTHBOT_", "TWILIO_", "DATABASE_URL",
                                               "REDIS_URL"))}
    values["HEALTHBOT_PUBLIC_URL"] = public
    settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    app = create_app(settings, upgrade_db=True)
    svc = app.extensions["bot"]
    engine = svc.engine
    counts = Counts()
    counting = [False]

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(*_args: Any) -> None:
        if counting[0]:
            counts.statements += 1

    @event.listens_for(engine, "commit")
    def _commit(*_args: Any) -> None:
        if counting[0]:
            counts.transactions += 1

    @event.listens_for(engine, "rollback")
    def _rollback(*_args: Any) -> None:
        if counting[0]:
            counts.transactions += 1

    @event.listens_for(engine.pool, "checkout")
    def _checkout(*_args: Any) -> None:
        if counting[0]:
            counts.checkouts += 1

    client = app.test_client()
    # Most messages come from people who wrote before: each of the senders writes once (the
    # welcome, not counted), then the counted messages follow, about five per person.
    people = max(1, messages // 5)
    pairs = signed_requests(public, messages + people, seed=len(shape), people=people)

    def post(signature: str, body: str) -> None:
        response = client.post(PATH, data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature})
        if response.status_code != 200:
            raise RuntimeError(f"webhook answered {response.status_code}: {response.text[:200]}")

    for signature, body in pairs[:people]:  # first contacts; warms caches and the encoder
        post(signature, body)
    before = redis_commandstats() if shape == "queued" else {}
    counting[0] = True
    for signature, body in pairs[people:]:
        start = time.perf_counter()
        post(signature, body)
        counts.ms.append((time.perf_counter() - start) * 1000)
    counting[0] = False
    counts.messages = messages
    if shape == "queued":
        after = redis_commandstats()
        counts.redis_by_command = {k: after[k] - before.get(k, 0) for k in after
                                   if after[k] != before.get(k, 0)}
        # INFO itself is the only command of ours between the two readings.
        counts.redis_by_command["info"] = counts.redis_by_command.get("info", 1) - 1
        counts.redis_commands = sum(counts.redis_by_command.values())
    svc.close()
    return counts


# --- the queue worker's memory ---------------------------------------------------------------


class _FakeTwilio(http.server.BaseHTTPRequestHandler):
    """Twilio's Messages.json, answering 201 queued, so the worker can send its answers."""

    posted: ClassVar[list[float]] = []  # when each message was sent

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.posted.append(time.monotonic())
        body = json.dumps({"sid": "SM" + uuid.uuid4().hex, "status": "queued"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        return None


def worker_memory(folder: Path, jobs: int) -> tuple[int, float, int, dict[str, int]]:
    """Run `healthbot worker` over queued answers: (answers sent, seconds from the first to the
    last, peak RSS in KiB, and its resident memory at the end by kind: anonymous, file-backed,
    and proportional share)."""
    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeTwilio)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    env = bot_env(folder, "queued", 0)
    env["TWILIO_API_BASE_URL"] = f"http://127.0.0.1:{fake.server_address[1]}"
    import redis

    r = redis.Redis.from_url(REDIS)
    _FakeTwilio.posted = []
    proc = subprocess.Popen([str(Path(sys.executable).parent / "healthbot"), "worker"], env=env,
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    began = time.monotonic()
    peak = 0
    try:
        # Until `jobs` answers went out, or the queue is empty (chained jobs wait in rq's
        # deferred registry and join the queue as their predecessor ends).
        while len(_FakeTwilio.posted) < jobs and time.monotonic() - began < 300:
            if proc.poll() is not None:
                raise RuntimeError("healthbot worker exited")
            if _FakeTwilio.posted and r.llen("rq:queue:bench") == 0 \
                    and time.monotonic() - _FakeTwilio.posted[-1] > 3:
                break
            peak = max(peak, _rss_kib(proc.pid, "VmHWM"))
            time.sleep(0.2)
        peak = max(peak, _rss_kib(proc.pid, "VmHWM"))
        kinds = {k: _rss_kib(proc.pid, k) for k in ("RssAnon", "RssFile")}
        kinds["Pss"] = _pss_kib(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        fake.shutdown()
    posted = _FakeTwilio.posted
    seconds = posted[-1] - posted[0] if len(posted) > 1 else 0.0
    return len(posted), seconds, peak, kinds


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _rss_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def assess_median_us(samples: int = 2000) -> float:
    import safety

    texts = questions()
    for t in texts[:50]:
        safety.assess(t, sender="whatsapp:+447700900123")
    times = []
    for i in range(samples):
        text = texts[i % len(texts)]
        start = time.perf_counter()
        safety.assess(text, sender="whatsapp:+447700900123")
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


# --- the run ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load run")
    parser.add_argument("--connections", default="4,16", help="comma-separated")
    parser.add_argument("--shapes", default="bare,floor,queued,embedded,lexical")
    parser.add_argument("--processes", type=int, default=2, help="gunicorn processes (bare, "
                        "queued)")
    parser.add_argument("--threads", type=int, default=4, help="threads per process (bare, "
                        "queued)")
    parser.add_argument("--serve-args", default="",
                        help="options of `healthbot serve` for the embedded shapes (default: "
                        "none, as a newcomer runs it)")
    parser.add_argument("--inproc", type=int, default=300,
                        help="messages for the per-message counts (0 skips them)")
    parser.add_argument("--worker-jobs", type=int, default=300,
                        help="queued answers the worker sends while its RSS is read (0 skips)")
    parser.add_argument("--python-load", action="store_true", help="don't use wrk")
    args = parser.parse_args()
    shapes = [s for s in args.shapes.split(",") if s]
    conns = [int(c) for c in args.connections.split(",")]
    use_wrk = shutil.which("wrk") is not None and not args.python_load
    if not services_up():
        print("PostgreSQL or Redis is not running: skipping the floor and queued shapes",
              file=sys.stderr)
        shapes = [s for s in shapes if s not in ("floor", "queued")]
    healthbot = str(Path(sys.executable).parent / "healthbot")
    gunicorn = str(Path(sys.executable).parent / "gunicorn")

    print(f"load: {'wrk' if use_wrk else 'python load generator'}, {args.duration:.0f} s per "
          f"run, a new connection per request, {SENDERS} senders, "
          f"{len(questions())} distinct questions; {os.cpu_count()} cores")
    results: dict[tuple[str, int], Load] = {}
    folder = Path(tempfile.mkdtemp(prefix="bench-http-"))
    try:
        for shape in shapes:
            port = free_port()
            public = f"http://127.0.0.1:{port}"
            if shape == "bare":
                cmd = [gunicorn, "-w", str(args.processes), "--threads", str(args.threads),
                       "-k", "gthread", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                       "bench.bare_responder:app"]
                env = dict(os.environ)
                label = f"{args.processes} x {args.threads}"
            elif shape == "floor":
                reset_postgres()
                reset_redis()
                env = bot_env(folder, "queued", port)
                subprocess.run([healthbot, "db", "upgrade"], env=env, cwd=ROOT, check=True,
                               capture_output=True)
                cmd = [gunicorn, "-w", str(args.processes), "--threads", str(args.threads),
                       "-k", "gthread", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                       "bench.floor_responder:app"]
                label = f"{args.processes} x {args.threads}"
            elif shape == "queued":
                reset_postgres()
                reset_redis()
                env = bot_env(folder, shape, port)
                subprocess.run([healthbot, "db", "upgrade"], env=env, cwd=ROOT, check=True,
                               capture_output=True)
                cmd = [healthbot, "serve", "--port", str(port),
                       "--workers", str(args.processes), "--threads", str(args.threads)]
                label = f"{args.processes} x {args.threads}"
            else:
                env = bot_env(folder, shape, port)
                cmd = [healthbot, "serve", "--port", str(port), *args.serve_args.split()]
                label = args.serve_args or "serve's defaults"
            # Enough unique deliveries for the bot; the bare responder, faster, reuses them.
            total = int(400 + 2500 * args.duration * len(conns))
            pairs = signed_requests(public, total, seed=len(shape))
            warm, rest = pairs[:400], pairs[400:]
            with server(cmd, env, port, folder / f"{shape}.log") as pgid:
                warm_up(port, warm)
                for index, c in enumerate(conns):
                    chunk = rest[index::len(conns)]
                    before = cpu_seconds(pgid)
                    if use_wrk:
                        lines = folder / f"{shape}-{c}.tsv"
                        lines.write_text("".join(f"{s}\t{b}\n" for s, b in chunk),
                                         encoding="utf-8")
                        load = run_wrk(port, lines, c, args.duration, folder)
                    else:
                        load = run_python_load(port, chunk, c, args.duration)
                    cpu = cpu_per_request(before, cpu_seconds(pgid), load.requests)
                    if load.requests > len(chunk) and shape != "bare":
                        print(f"  note: {shape} at {c} connections sent more requests than "
                              "were signed; some were duplicates", file=sys.stderr)
                    results[(shape, c)] = load
                    print(f"  {shape:9} ({label}) c={c:<3} {load.rps:8.1f} req/s  "
                          f"p50 {load.p50_ms:7.1f} ms  p99 {load.p99_ms:7.1f} ms  "
                          f"errors {load.errors}", flush=True)
                    print(f"  {'':9} CPU per request: " + ", ".join(
                        f"{k} {v:.2f} ms" for k, v in cpu.items()), flush=True)
                    time.sleep(1)

        print("\n| shape | connections | requests/s | ÷ bare | p50 | p99 |")
        print("|---|---|---|---|---|---|")
        for (shape, c), load in results.items():
            bare = results.get(("bare", c))
            ratio = f"{load.rps / bare.rps:.3f}" if bare and bare.rps else "–"
            print(f"| {shape} | {c} | {load.rps:.0f} | {ratio} | {load.p50_ms:.1f} ms | "
                  f"{load.p99_ms:.1f} ms |")

        if args.inproc:
            print("\nper inbound message, in-process, single-threaded (Flask test client):")
            for shape in [s for s in shapes if s not in ("bare", "floor")]:
                if shape == "queued":
                    reset_postgres()
                    reset_redis()
                counts = count_in_process(shape, folder, args.inproc)
                ms = sorted(counts.ms)
                print(f"  {shape:9} {statistics.median(ms):6.2f} ms median, "
                      f"{ms[int(len(ms) * 0.99) - 1]:6.2f} ms p99; "
                      f"{counts.per(counts.statements):.1f} SQL statements, "
                      f"{counts.per(counts.transactions):.1f} transactions, "
                      f"{counts.per(counts.checkouts):.1f} pool checkouts"
                      + (f", {counts.per(counts.redis_commands):.1f} Redis commands "
                         f"({_top(counts)})" if shape == "queued" else ""))
                if shape == "queued":
                    trips = counts.statements + counts.transactions * 2 + counts.checkouts \
                        + counts.redis_commands
                    print(f"  {'':9} about {counts.per(trips):.0f} round trips (statements, "
                          "BEGIN and COMMIT, a pre-ping per checkout, Redis commands)")

        if "queued" in shapes and args.worker_jobs:
            sent, seconds, peak, kinds = worker_memory(folder, args.worker_jobs)
            print(f"\nqueue worker: {sent} answers in {seconds:.1f} s "
                  f"({sent / seconds if seconds else 0:.0f}/s), peak RSS {peak / 1024:.0f} MB; "
                  "at the end " + ", ".join(f"{k} {v / 1024:.0f} MB" for k, v in kinds.items()))
        print(f"safety.assess: {assess_median_us():.0f} µs median")
    finally:
        if "queued" in shapes or "floor" in shapes:
            drop_postgres()
            reset_redis()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def _top(counts: Counts) -> str:
    top = sorted(counts.redis_by_command.items(), key=lambda kv: -kv[1])[:6]
    return ", ".join(f"{k} {v / counts.messages:.1f}" for k, v in top if v > 0)


if __name__ == "__main__":
    raise SystemExit(main())
