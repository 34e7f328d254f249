// mesh-bench-caf: CAF's local request/response between two actors, the peer figure for
// `mesh-bench actors` (which runs this program between its own rounds). Built only when CAF
// (Debian's libcaf-dev, 0.17) is installed.
//
// `pairs` pingers each keep `window` requests to their own ponger outstanding (each response
// handler sends the next request) until `count` round trips completed or `ms` passed (checked
// on the first response and every 256th after), as the Pinger of libmesh_bench_actors.so does.
// The time limit is one moment for all pingers: CAF's scheduler runs a busy pinger/ponger pair
// until it stops, so the pairs take turns rather than share the time. Prints one JSON line:
// {"round_trips","failed","seconds","cpu_seconds","threads"}. The clock runs from the first
// "run" message to the last pinger's report; spawning the actors is not timed.
#include <sys/resource.h>

#include <caf/all.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using ping_atom = caf::atom_constant<caf::atom("ping")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using steady = std::chrono::steady_clock;

struct settings {
  uint64_t pairs = 1;
  uint64_t window = 1;
  uint64_t count = 1'000'000;
  int64_t ms = 1000;
  int64_t threads = 0;  ///< 0: CAF's default (one per core)
};

double cpu_seconds() {
  rusage r{};
  ::getrusage(RUSAGE_SELF, &r);
  const auto s = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
  return s(r.ru_utime) + s(r.ru_stime);
}

caf::behavior ponger(caf::event_based_actor*) {
  return {[](ping_atom, int32_t x) { return x; }};
}

struct pinger_state {
  caf::actor pong;
  caf::actor reporter;
  uint64_t window = 1, count = 1, issued = 0, done = 0, failed = 0;
  steady::time_point deadline;
  bool stopping = false;
};

using pinger_actor = caf::stateful_actor<pinger_state>;

void completed(pinger_actor* self, bool ok);

void issue(pinger_actor* self) {
  auto& st = self->state;
  ++st.issued;
  self->request(st.pong, caf::infinite, ping_atom::value, static_cast<int32_t>(st.issued))
      .then([self](int32_t) { completed(self, true); },
            [self](caf::error&) { completed(self, false); });
}

void completed(pinger_actor* self, bool ok) {
  auto& st = self->state;
  ++st.done;
  if (!ok) ++st.failed;
  if ((st.done & 255) == 1 && steady::now() >= st.deadline) st.stopping = true;
  if (!st.stopping && st.issued < st.count) {
    issue(self);
    return;
  }
  if (st.done != st.issued) return;
  self->send(st.reporter, done_atom::value, st.done, st.failed);
  self->send_exit(st.pong, caf::exit_reason::user_shutdown);
  self->quit();
}

caf::behavior pinger(pinger_actor* self, caf::actor pong, uint64_t window, uint64_t count) {
  self->state.pong = std::move(pong);
  self->state.window = window;
  self->state.count = count;
  return {[self](run_atom, caf::actor reporter, int64_t deadline_ns) {
    auto& st = self->state;
    st.reporter = std::move(reporter);
    st.deadline = steady::time_point(std::chrono::nanoseconds(deadline_ns));
    while (st.issued < std::min(st.window, st.count)) issue(self);
  }};
}

bool parse(int argc, char** argv, settings& s) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const long long v = std::strtoll(argv[i + 1], nullptr, 10);
    if (v < 0) return false;
    if (key == "--pairs")
      s.pairs = static_cast<uint64_t>(v);
    else if (key == "--window")
      s.window = static_cast<uint64_t>(v);
    else if (key == "--count")
      s.count = static_cast<uint64_t>(v);
    else if (key == "--ms")
      s.ms = v;
    else if (key == "--threads")
      s.threads = v;
    else
      return false;
  }
  return (argc % 2) == 1 && s.pairs > 0 && s.window > 0 && s.count > 0;
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  if (!parse(argc, argv, s)) {
    std::fprintf(stderr,
                 "usage: mesh-bench-caf [--pairs N] [--window W] [--count N] [--ms MS] "
                 "[--threads T]\n");
    return 2;
  }
  caf::actor_system_config cfg;
  if (s.threads > 0) cfg.set("scheduler.max-threads", static_cast<size_t>(s.threads));
  caf::actor_system system{cfg};
  std::vector<caf::actor> pingers;
  pingers.reserve(s.pairs);
  for (uint64_t i = 0; i < s.pairs; ++i)
    pingers.push_back(system.spawn(pinger, system.spawn(ponger), s.window, s.count));
  uint64_t round_trips = 0, failed = 0;
  double seconds = 0, cpu = 0;
  {
    caf::scoped_actor self{system};
    const double cpu_start = cpu_seconds();
    const auto start = steady::now();
    const auto deadline =
        s.ms > 0 ? start + std::chrono::milliseconds(s.ms) : steady::time_point::max();
    const int64_t deadline_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(deadline.time_since_epoch()).count();
    for (const auto& p : pingers) self->send(p, run_atom::value, caf::actor{self}, deadline_ns);
    for (uint64_t i = 0; i < s.pairs; ++i)
      self->receive([&](done_atom, uint64_t n, uint64_t f) {
        round_trips += n;
        failed += f;
      });
    seconds = std::chrono::duration<double>(steady::now() - start).count();
    cpu = cpu_seconds() - cpu_start;
  }
  pingers.clear();
  std::printf(
      "{\"round_trips\": %llu, \"failed\": %llu, \"seconds\": %.6f, \"cpu_seconds\": %.6f, "
      "\"threads\": %lld}\n",
      static_cast<unsigned long long>(round_trips), static_cast<unsigned long long>(failed),
      seconds, cpu,
      static_cast<long long>(s.threads > 0 ? s.threads : system.scheduler().num_workers()));
  std::fflush(stdout);
  return failed == 0 ? 0 : 1;
}
