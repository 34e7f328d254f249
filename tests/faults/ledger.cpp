// Module `Ledger` (capability `ledger`): the fault harness's witness actor.
//
//   call {"op": "OPID"}   appends OPID to the activation's in-memory list, replies
//                         {"n": ops held by this activation, "act": activation number}
//
// Besides its in-memory state, every activation writes one JSON line per event to the file
// named by $MESH_LEDGER_LOG (nothing when unset), each with one O_APPEND write(): the line is in
// the kernel's page cache once write() returns, so it survives a kill -9 of the host.
//
//   {"ts": unix ms, "host": $MESH_LEDGER_HOST, "key": id, "act": activation,
//    "event": "activate" | "exec" | "deactivate", "op": OPID (exec), "reason": (deactivate)}
//
// tests/faults/check.py reads these lines to find overlapping activations, lost acknowledged
// requests and double executions.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <mesh/sdk.hpp>
#include <string>
#include <vector>

namespace mesh::faults {

namespace {

/// The ledger file, opened on first use (-1 when $MESH_LEDGER_LOG is unset or cannot be opened).
int ledger_fd() {
  static const int fd = [] {
    const char* path = std::getenv("MESH_LEDGER_LOG");
    return path ? ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644) : -1;
  }();
  return fd;
}

/// A JSON string literal for `s` (keys and op ids are ASCII in the harness; escape anyway).
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + '"';
}

void record(std::string_view key, uint64_t act, std::string_view event, std::string_view extra) {
  const int fd = ledger_fd();
  if (fd < 0) return;
  static const std::string host = [] {
    const char* h = std::getenv("MESH_LEDGER_HOST");
    return quoted(h ? h : "");
  }();
  const auto ms = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count() /
                  1000.0;
  std::string line = "{\"ts\":" + std::to_string(ms) + ",\"host\":" + host +
                     ",\"key\":" + quoted(key) + ",\"act\":" + std::to_string(act) +
                     ",\"event\":\"" + std::string(event) + "\"" + std::string(extra) + "}\n";
  // One write() per line: O_APPEND makes it atomic with respect to the other writers.
  [[maybe_unused]] const ssize_t n = ::write(fd, line.data(), line.size());
}

const char* reason_name(sdk::deactivation r) {
  switch (r) {
    case sdk::deactivation::idle: return "idle";
    case sdk::deactivation::shutdown: return "shutdown";
    case sdk::deactivation::rebalance: return "rebalance";
    default: return "other";
  }
}

}  // namespace

/// One key's ledger: the operation ids this activation executed, in order.
class ledger {
 public:
  explicit ledger(const sdk::context& ctx) : key_(ctx.id()), act_(ctx.activation()) {
    record(key_, act_, "activate", "");
  }

  void call(const sdk::value& msg, sdk::writer& reply) {
    const std::string_view op = msg["op"].as_string();
    if (op.empty()) throw sdk::rejected("expected {\"op\": \"OPID\"}");
    ops_.emplace_back(op);
    record(key_, act_, "exec", ",\"op\":" + quoted(op));
    reply.map().kv("n", static_cast<int64_t>(ops_.size())).kv("act", static_cast<int64_t>(act_));
  }

  void on_deactivate(sdk::deactivation reason) {
    record(key_, act_, "deactivate", std::string(",\"reason\":\"") + reason_name(reason) + "\"");
  }

 private:
  std::string key_;
  uint64_t act_;
  std::vector<std::string> ops_;
};

}  // namespace mesh::faults

MESH_PLUGIN("mesh-ledger", "1.0.0", mesh::sdk::module<mesh::faults::ledger>("Ledger", "ledger"))
