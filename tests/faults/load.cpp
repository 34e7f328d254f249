// mesh-faults-load: the fault harness's load client, built on mesh::client (what users get:
// routing to owners, view refresh, re-sends with the same request id only when provably not run).
//
//   mesh-faults-load --endpoints tcp://127.0.0.2:7100,... --out calls.jsonl
//                    [--keys 30] [--rate 200] [--seconds 20] [--timeout-ms 3000] [--prefix c]
//
// Calls Ledger actors (capability `ledger`) on keys k0..k{keys-1} in turn at `rate` calls per
// second for `seconds`, each with a unique operation id ("PREFIX-N") in its payload, then waits
// for the calls still in flight. Every call ends in one JSON line:
//
//   {"op": "c-17", "key": "k17", "sent": unix ms, "done": unix ms, "ok": true,
//    "host": "a", "act": 3}                                         (acknowledged)
//   {"op": ..., "ok": false, "code": "timeout", "origin": "client", "msg": "..."}   (failed)
//
// Exits 0 when the run completed (whatever the outcomes; tests/faults/check.py judges them).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mesh/client.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono;
using mesh::client::json;

double unix_ms() {
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count() / 1000.0;
}

struct settings {
  std::vector<std::string> endpoints;
  std::string out;
  std::string prefix = "c";
  int keys = 30;
  double rate = 200;
  double seconds = 20;
  int timeout_ms = 3000;
};

settings parse(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument("missing value after " + a);
    const std::string v = argv[++i];
    if (a == "--endpoints") {
      std::stringstream ss(v);
      for (std::string e; std::getline(ss, e, ',');) s.endpoints.push_back(e);
    } else if (a == "--out") {
      s.out = v;
    } else if (a == "--prefix") {
      s.prefix = v;
    } else if (a == "--keys") {
      s.keys = std::stoi(v);
    } else if (a == "--rate") {
      s.rate = std::stod(v);
    } else if (a == "--seconds") {
      s.seconds = std::stod(v);
    } else if (a == "--timeout-ms") {
      s.timeout_ms = std::stoi(v);
    } else {
      throw std::invalid_argument("unknown option " + a);
    }
  }
  if (s.endpoints.empty() || s.out.empty() || s.keys < 1 || s.rate <= 0)
    throw std::invalid_argument("need --endpoints, --out, --keys >= 1 and --rate > 0");
  return s;
}

}  // namespace

int main(int argc, char** argv) try {
  const settings s = parse(argc, argv);
  FILE* out = std::fopen(s.out.c_str(), "w");
  if (!out) throw std::runtime_error("cannot write " + s.out);

  mesh::client::options opts;
  opts.timeout = milliseconds(s.timeout_ms);
  opts.refresh_interval = milliseconds(200);
  mesh::client::client c(s.endpoints, opts);
  (void)c.refresh();  // routes directly from the first call when a host answers

  uint64_t sent = 0, ok = 0, failed = 0;
  const auto start = steady_clock::now();
  const auto period = duration<double>(1.0 / s.rate);
  const auto stop = start + duration_cast<steady_clock::duration>(duration<double>(s.seconds));
  while (steady_clock::now() < stop) {
    // Send every call that is due now (the client never runs more than 3 s of load ahead).
    while (start + duration_cast<steady_clock::duration>(period * sent) <= steady_clock::now()) {
      const std::string op = s.prefix + "-" + std::to_string(sent);
      const std::string key = "k" + std::to_string(sent % s.keys);
      const auto payload = mesh::client::json_to_msgpack(json{{"op", op}});
      const double t0 = unix_ms();
      mesh::client::actor_request req{"ledger", "Ledger", key, mesh::client::view_of(payload)};
      c.call_async(req, [&, op, key, t0](tl::expected<mesh::client::call_result, mesh::client::error> r) {
        json line{{"op", op}, {"key", key}, {"sent", t0}, {"done", unix_ms()}, {"ok", r.has_value()}};
        if (r) {
          ++ok;
          line["host"] = r->actor.host;
          line["act"] = r->actor.activation;
        } else {
          ++failed;
          line["code"] = r.error().code;
          line["origin"] = r.error().origin == mesh::client::error_origin::host ? "host" : "client";
          line["msg"] = r.error().message;
        }
        std::fprintf(out, "%s\n", line.dump().c_str());
      });
      ++sent;
    }
    c.poll(milliseconds(1));
  }
  c.drain(milliseconds(s.timeout_ms + 3000));
  std::fclose(out);
  std::cerr << "load: sent " << sent << " ok " << ok << " failed " << failed << " unfinished "
            << c.in_flight() << " retries " << c.stats().retries << "\n";
  return c.in_flight() == 0 ? 0 : 3;
} catch (const std::exception& e) {
  std::cerr << "mesh-faults-load: " << e.what() << "\n";
  return 1;
}
