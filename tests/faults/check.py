"""Reads one fault-scenario run's JSON-line logs and computes its figures (docs/RELIABILITY.md).

A run directory holds:
  calls.jsonl       the load client's outcomes: one line per call (tests/faults/load.cpp)
  ledger-*.jsonl    the Ledger actors' activate / exec / deactivate lines (tests/faults/ledger.cpp)
  events.jsonl      what the orchestrator did and when: start, kill, stop, cont, term, nft, ...
  NAME.log          each host's stderr in --log-format json (member dead:, view changed:, ...)

Definitions (all times are unix milliseconds; every process runs on the same clock):
  acknowledged     a call that ended with an ok reply. The host replies only after the actor ran
                   it, so every acknowledged operation id must have an exec line: if not, it is
                   a *lost acknowledged* request.
  double executed  an operation id executed twice where the first execution's state survived,
                   that is, its host was not killed (SIGKILL) between the two. A retry after the
                   owner was killed re-runs the call on a fresh activation: the first run's state
                   died with the host, so that is not a double execution (docs/CLIENTS.md).
  overlap          two activations of one key on different hosts whose execution spans (first to
                   last exec) intersect: two live copies of the same actor served requests at the
                   same time.
  availability     ok calls / calls, by the second in which they were sent.
  false death      a host declared dead (`member dead:`) while it was running and reachable:
                   not killed, stopped or terminated for long enough to be found dead, and not
                   cut off by the scenario's partition (false_deaths()).
"""
import collections
import datetime
import glob
import json
import os
import re


def read_jsonl(path):
    """Every complete JSON line of `path` (a line cut short by kill -9 is skipped)."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def iso_ms(ts):
    """'2024-05-01T12:00:00.123Z' -> unix ms."""
    dt = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000.0


VIEW_RE = re.compile(r"^view changed: \S+ .*\bmembers=(\S*)")
DEAD_RE = re.compile(r"^member dead: (\S+)")
JOINED_RE = re.compile(r"^member (?:joined|recovered): (\S+)")
# A peer's restart (a new incarnation) as its peers log it: a fresh record, or a rejoin.
RESTARTED_RE = re.compile(r"^member (?:updated: (\S+) version=1$|recovered: (\S+) reason=rejoined)")
REBALANCE_RE = re.compile(r"^rebalance: \S+ handed_off=(\d+)")
LATE_TICK_RE = re.compile(r"^local health: (\S+) score=\d+ reason=late_tick")
# A host absent for less than this cannot deserve to be declared dead: the test profile's
# dead_after (docs/CLUSTER.md), the shortest silence that may kill.
FAULT_MIN_MS = 800
# A death declared this long after a fault ends is still that fault's (a few heartbeats, on a
# busy machine).
FAULT_GRACE_MS = 3000


class run:
    """All logs of one run, parsed."""

    def __init__(self, work):
        self.work = work
        self.calls = read_jsonl(os.path.join(work, "calls.jsonl"))
        self.ledger = []
        for path in sorted(glob.glob(os.path.join(work, "ledger-*.jsonl"))):
            self.ledger += read_jsonl(path)
        self.ledger.sort(key=lambda e: e["ts"])
        self.events = read_jsonl(os.path.join(work, "events.jsonl"))
        self.logs = {}  # host -> [(ms, msg)]
        for path in sorted(glob.glob(os.path.join(work, "*.log"))):
            host = os.path.basename(path)[:-4]
            lines = []
            for e in read_jsonl(path):
                if "ts" in e and "msg" in e:
                    lines.append((iso_ms(e["ts"]), e["msg"]))
            self.logs[host] = lines

    # --- what the orchestrator did ---
    def event_times(self, kind, host=None):
        return [e["ts"] for e in self.events
                if e["event"] == kind and (host is None or e.get("host") == host)]

    def first_event(self, kind, host=None):
        t = self.event_times(kind, host)
        return t[0] if t else None

    # --- calls ---
    def calls_between(self, t0=None, t1=None, keys=None):
        return [c for c in self.calls
                if (t0 is None or c["sent"] >= t0) and (t1 is None or c["sent"] < t1)
                and (keys is None or c["key"] in keys)]

    def owners_before(self, t):
        """key -> the host that last acknowledged a call on it before `t`."""
        owners = {}
        for c in sorted(self.calls, key=lambda c: c["done"]):
            if c["ok"] and c["done"] < t:
                owners[c["key"]] = c["host"]
        return owners

    def owners_after(self, t):
        """key -> the host that acknowledged the last call sent after `t`."""
        owners = {}
        for c in sorted(self.calls, key=lambda c: c["sent"]):
            if c["ok"] and c["sent"] >= t:
                owners[c["key"]] = c["host"]
        return owners

    def recovery_ms(self, t, keys, not_host):
        """The longest time from `t` until a key of `keys` was answered by a host other than
        `not_host` (None if one never was)."""
        worst = 0.0
        for k in keys:
            done = [c["done"] for c in self.calls
                    if c["key"] == k and c["ok"] and c["done"] >= t and c["host"] != not_host]
            if not done:
                return None
            worst = max(worst, min(done) - t)
        return worst

    def availability(self, t0=None, t1=None):
        """(overall ok %, worst 1-second window ok %, calls) of calls sent in [t0, t1)."""
        calls = self.calls_between(t0, t1)
        if not calls:
            return 0.0, 0.0, 0
        windows = collections.defaultdict(lambda: [0, 0])
        for c in calls:
            w = windows[int(c["sent"] // 1000)]
            w[0] += c["ok"]
            w[1] += 1
        overall = 100.0 * sum(c["ok"] for c in calls) / len(calls)
        worst = min(100.0 * ok / n for ok, n in windows.values())
        return overall, worst, len(calls)

    def errors(self, t0=None, t1=None, keys=None):
        return [c for c in self.calls_between(t0, t1, keys) if not c["ok"]]

    # --- ledger ---
    def lost_acknowledged(self):
        executed = {e["op"] for e in self.ledger if e["event"] == "exec"}
        return [c["op"] for c in self.calls if c["ok"] and c["op"] not in executed]

    def double_executed(self):
        kills = collections.defaultdict(list)
        for e in self.events:
            if e["event"] == "kill":
                kills[e["host"]].append(e["ts"])
        runs = collections.defaultdict(list)
        for e in self.ledger:
            if e["event"] == "exec":
                runs[e["op"]].append(e)
        doubles = []
        for op, execs in runs.items():
            for first, later in zip(execs, execs[1:]):
                state_died = any(first["ts"] <= k <= later["ts"] for k in kills[first["host"]])
                if not state_died:
                    doubles.append(op)
                    break
        return doubles

    def activations_per_key(self):
        count = collections.Counter()
        for e in self.ledger:
            if e["event"] == "activate":
                count[e["key"]] += 1
        return count

    def spans(self, t0=None, t1=None):
        """key -> {(host, act): [first exec, last exec]} over execs in [t0, t1)."""
        spans = collections.defaultdict(dict)
        for e in self.ledger:
            if e["event"] != "exec" or (t0 is not None and e["ts"] < t0) or \
                    (t1 is not None and e["ts"] >= t1):
                continue
            s = spans[e["key"]].setdefault((e["host"], e["act"]), [e["ts"], e["ts"]])
            s[1] = e["ts"]
        return spans

    def overlaps(self, t0=None, t1=None):
        """[(key, (host, act), (host, act), ms)] of activations on different hosts whose
        execution spans in [t0, t1) intersect."""
        found = []
        for key, acts in self.spans(t0, t1).items():
            items = sorted(acts.items(), key=lambda kv: kv[1][0])
            for i, (a, sa) in enumerate(items):
                for b, sb in items[i + 1:]:
                    if a[0] != b[0] and sb[0] <= sa[1]:
                        found.append((key, a, b, min(sa[1], sb[1]) - sb[0]))
        return found

    def execs_of(self, host, t0=None):
        return [e for e in self.ledger if e["event"] == "exec" and e["host"] == host
                and (t0 is None or e["ts"] >= t0)]

    def activate_ts(self):
        """(host, act) -> activation time."""
        return {(e["host"], e["act"]): e["ts"] for e in self.ledger if e["event"] == "activate"}

    # --- host logs ---
    def first_log(self, host, regex, subject, after):
        for ms, msg in self.logs.get(host, []):
            m = regex.match(msg)
            if ms >= after and m and subject in m.groups():
                return ms
        return None

    def dead_events(self, t0=None, t1=None):
        """[(observer, ms, dead host)] of `member dead:` lines in [t0, t1)."""
        out = []
        for host, lines in self.logs.items():
            for ms, msg in lines:
                m = DEAD_RE.match(msg)
                if m and (t0 is None or ms >= t0) and (t1 is None or ms < t1):
                    out.append((host, ms, m.group(1)))
        return out

    def absences(self, shortest_ms=FAULT_MIN_MS):
        """host -> [(t0, t1)]: when the orchestrator had the host down (kill or term until the
        next start: that process is gone, however soon another takes its place) or frozen (stop
        until cont, for spans of at least `shortest_ms`: a shorter pause deserves no death). A
        span still open at the end of the run ends at infinity."""
        out = collections.defaultdict(list)
        since = {}
        for e in sorted(self.events, key=lambda e: e["ts"]):
            h = e.get("host")
            if e["event"] in ("kill", "term", "stop") and h not in since:
                since[h] = (e["ts"], e["event"])
            elif e["event"] in ("start", "cont") and h in since:
                t0, why = since.pop(h)
                if why != "stop" or e["ts"] - t0 >= shortest_ms:
                    out[h].append((t0, e["ts"]))
        for h, (t0, _) in since.items():
            out[h].append((t0, float("inf")))
        return out

    def false_deaths(self, expected=()):
        """[(observer, ms, dead host)] of deaths declared of a host that was running and
        reachable: not down or frozen for long enough to be found dead (absences()), nor cut off
        by a fault the scenario names in `expected` ((host, t0, t1) spans: that host, and every
        host it was cut off from, may be declared dead then). A death declared up to
        FAULT_GRACE_MS after such a span ends is still the fault's."""
        spans = self.absences()
        out = []
        for observer, ms, dead in self.dead_events():
            deserved = any(t0 <= ms <= t1 + FAULT_GRACE_MS for t0, t1 in spans.get(dead, []))
            deserved = deserved or any(
                (h == dead or h == observer) and t0 <= ms <= t1 + FAULT_GRACE_MS
                for h, t0, t1 in expected)
            if not deserved:
                out.append((observer, ms, dead))
        return out

    def late_ticks(self):
        """[(host, ms)] of the times a host's gossip loop ran late (it was paused or starved)."""
        return [(h, ms) for h, lines in self.logs.items() for ms, msg in lines
                if LATE_TICK_RE.match(msg)]

    def views(self, host):
        """[(ms, frozenset of hosts)] of `host`'s view changes."""
        out = []
        for ms, msg in self.logs.get(host, []):
            m = VIEW_RE.match(msg)
            if m:
                out.append((ms, frozenset(h for h in m.group(1).split(",") if h)))
        return out

    def view_at(self, host, t):
        current = None
        for ms, v in self.views(host):
            if ms <= t:
                current = v
        return current

    def converged_at(self, hosts, expected, after):
        """The first time >= `after` from which every host of `hosts` holds view `expected`
        (judged at its view changes; None if they never all do)."""
        times = sorted({after} | {ms for h in hosts for ms, _ in self.views(h) if ms >= after})
        for t in times:
            if all(self.view_at(h, t) == expected for h in hosts):
                return t
        return None

    def rebalances(self, host, t0, t1):
        return [int(m.group(1)) for ms, msg in self.logs.get(host, [])
                if t0 <= ms < t1 and (m := REBALANCE_RE.match(msg))]


class verdict:
    """The figures of one scenario, each with its pass figure; prints a table."""

    def __init__(self, scenario):
        self.scenario = scenario
        self.rows = []

    def figure(self, name, value, passed, target, fmt="{}"):
        """Records one figure. `passed` None: reported only (no pass figure)."""
        shown = "n/a" if value is None else fmt.format(value)
        self.rows.append((name, shown, target, passed))

    def ok(self):
        return all(p is not False for _, _, _, p in self.rows)

    def report(self):
        lines = [f"== {self.scenario} =="]
        for name, shown, target, passed in self.rows:
            mark = {True: "pass", False: "FAIL", None: "info"}[passed]
            lines.append(f"  {name:<44} {shown:>14}  (pass figure: {target})  {mark}")
        lines.append(f"{self.scenario}: {'PASS' if self.ok() else 'FAIL'}")
        return "\n".join(lines)
