#!/usr/bin/python3
"""check.py's false-death rule on made-up logs: what counts as a false death and what not."""
import datetime
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402

T0 = 1_800_000_000_000.0  # unix ms


def iso(ms):
    dt = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class false_deaths(unittest.TestCase):
    def run_with(self, events, deaths):
        """events: [(ms after T0, kind, host)]; deaths: [(ms after T0, observer, dead host)]."""
        work = tempfile.mkdtemp()
        with open(os.path.join(work, "events.jsonl"), "w") as f:
            for ms, kind, host in events:
                f.write(json.dumps({"ts": T0 + ms, "event": kind, "host": host}) + "\n")
        for observer in {o for _, o, _ in deaths}:
            with open(os.path.join(work, f"{observer}.log"), "w") as f:
                for ms, o, dead in deaths:
                    if o == observer:
                        f.write(json.dumps({"ts": iso(T0 + ms), "msg": f"member dead: {dead}"}) + "\n")
        return check.run(work)

    def test_a_short_pause_deserves_no_death(self):
        r = self.run_with([(0, "stop", "c"), (300, "cont", "c")], [(900, "a", "c")])
        self.assertEqual(len(r.false_deaths()), 1)

    def test_a_long_pause_kill_or_term_does(self):
        for events in ([(0, "stop", "c"), (5000, "cont", "c")], [(0, "kill", "c")],
                       [(0, "kill", "c"), (100, "start", "c")], [(0, "term", "c")]):
            r = self.run_with(events, [(900, "a", "c")])
            self.assertEqual(r.false_deaths(), [], events)

    def test_the_paused_host_accusing_its_peers_is_a_false_death(self):
        r = self.run_with([(0, "stop", "c"), (5000, "cont", "c")], [(5200, "c", "a")])
        self.assertEqual([d[2] for d in r.false_deaths()], ["a"])

    def test_a_death_long_after_the_fault_is_false(self):
        r = self.run_with([(0, "stop", "c"), (5000, "cont", "c")],
                          [(5000 + check.FAULT_GRACE_MS + 500, "a", "c")])
        self.assertEqual(len(r.false_deaths()), 1)

    def test_a_cut_off_host_and_its_accusations_are_the_partitions(self):
        r = self.run_with([], [(1000, "a", "c"), (1000, "c", "a"), (1000, "a", "b")])
        self.assertEqual([(d[0], d[2]) for d in r.false_deaths([("c", T0, T0 + 5000)])], [("a", "b")])


if __name__ == "__main__":
    unittest.main()
