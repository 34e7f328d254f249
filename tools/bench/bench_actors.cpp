// libmesh_bench_actors.so: the actors `mesh-bench actors` drives (host services, ABI 1.2). Built
// with mesh_add_plugin like any user's plugin, into a directory of its own (never loaded by a
// meshd the suite starts). All three modules are nonblocking: they run on the request thread.
//
// Pinger (actorbench) on a call {"op":"run","to","window","count","ms","raw"}: answers later.
//   It keeps `window` calls to Ponger/<to> (capability actorpong) outstanding, each reply
//   starting the next, until `count` round trips completed or `ms` passed (checked every 256
//   replies); then answers {"done","failed","ns"} (ns: first call to last reply). With "raw"
//   the calls go through the C table (mesh_host_services.call with a tag, replies handled in
//   on_message); without, through mesh::sdk::host::call and a continuation.
// Pinger on {"op":"latency","to","count"}: `count` calls one after another; answers
//   {"done","failed","samples":[ns...]}, each sample from the call to its continuation.
// Ponger (actorpong): replies to a call with its payload (a small integer).
// Timers (actorbench) on {"op":"arm","count","due_ms","due_at_ns","raw"}: arms `count`
//   one-shot timers, due `due_ms` from now or, with due_at_ns, at that steady-clock time (the
//   bench's: same machine); "raw" arms through mesh_host_services.timer_start with a tag, so
//   that nothing per timer is kept in the plugin; otherwise through host::after (a
//   std::function per timer in the SDK). Answers {"armed","late"} (late: due_at_ns had passed).
//   On {"op":"fired"}: {"count","first_ns","last_ns"} of the firings so far.
#include <chrono>
#include <cstdint>
#include <mesh/sdk.hpp>
#include <string>
#include <vector>

namespace {

using mesh::sdk::value;
using mesh::sdk::writer;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr const char* pong_capability = "actorpong";
constexpr const char* pong_module = "Ponger";

class pinger {
 public:
  static constexpr bool nonblocking = true;

  explicit pinger(const mesh::sdk::context& ctx) : host_(ctx.host()) {}

  void call(const value& msg, writer&) {
    if (later_) throw mesh::sdk::rejected("a run is in progress");
    const auto op = msg["op"].as_string();
    to_.assign(msg["to"].as_string());
    if (to_.empty()) throw mesh::sdk::rejected("\"to\" names the Ponger");
    count_ = static_cast<uint64_t>(std::max<int64_t>(1, msg["count"].as_int(1)));
    issued_ = done_ = failed_ = 0;
    stopping_ = false;
    samples_.clear();
    if (op == "run") {
      latency_ = false;
      raw_ = msg["raw"].as_bool(false);
      window_ = static_cast<uint64_t>(std::max<int64_t>(1, msg["window"].as_int(1)));
      const int64_t ms = msg["ms"].as_int(0);
      deadline_ns_ = ms > 0 ? now_ns() + ms * 1'000'000 : INT64_MAX;
    } else if (op == "latency") {
      latency_ = true;
      raw_ = false;
      window_ = 1;
      deadline_ns_ = INT64_MAX;
      samples_.reserve(count_);
    } else {
      throw mesh::sdk::rejected("unknown op");
    }
    later_ = host_.defer();
    started_ns_ = now_ns();
    while (issued_ < std::min(window_, count_)) issue();
  }

  /// Replies to the calls made through the C table (raw runs).
  void on_message(const mesh_message& m) {
    if (m.kind != MESH_MESSAGE_REPLY) return;
    completed(m.ok != 0);
  }

 private:
  void issue() {
    ++issued_;
    if (latency_) sent_ns_ = now_ns();
    if (raw_) {
      // One positive fixint or uint32: what msgpack-c would pack for this integer.
      uint8_t payload[5];
      size_t size = 1;
      const auto n = static_cast<uint32_t>(issued_);
      if (n < 128) {
        payload[0] = static_cast<uint8_t>(n);
      } else {
        payload[0] = 0xce;
        payload[1] = static_cast<uint8_t>(n >> 24);
        payload[2] = static_cast<uint8_t>(n >> 16);
        payload[3] = static_cast<uint8_t>(n >> 8);
        payload[4] = static_cast<uint8_t>(n);
        size = 5;
      }
      const mesh_bytes id{reinterpret_cast<const uint8_t*>(to_.data()), to_.size()};
      if (host_.services()->call(host_.handle(), pong_capability, pong_module, id,
                                 mesh_bytes{payload, size}, 0, issued_, nullptr) == 0)
        throw mesh::sdk::rejected("the host refused a call");
      return;
    }
    host_.call(pong_capability, pong_module, to_, static_cast<uint32_t>(issued_),
               [this](const mesh::sdk::result& r) { completed(r.ok()); });
  }

  void completed(bool ok) {
    ++done_;
    if (!ok) ++failed_;
    if (latency_) samples_.push_back(now_ns() - sent_ns_);
    if ((done_ & 255) == 0 && now_ns() >= deadline_ns_) stopping_ = true;
    if (!stopping_ && issued_ < count_) {
      issue();
      return;
    }
    if (done_ != issued_) return;
    const int64_t ns = now_ns() - started_ns_;
    const auto later = later_;
    later_ = {};
    auto& p = mesh::sdk::detail::thread_payload();
    p.buf.clear();
    msgpack::packer<msgpack::sbuffer> pk(p.buf);
    pk.pack_map(latency_ ? 4 : 3);
    pk.pack("done");
    pk.pack(done_);
    pk.pack("failed");
    pk.pack(failed_);
    pk.pack("ns");
    pk.pack(ns);
    if (latency_) {
      pk.pack("samples");
      pk.pack(samples_);
    }
    host_.services()->reply(
        host_.handle(), later.token, MESH_STATUS_OK,
        mesh_bytes{reinterpret_cast<const uint8_t*>(p.buf.data()), p.buf.size()}, nullptr);
  }

  mesh::sdk::host host_;
  mesh::sdk::deferred later_;
  std::string to_;
  bool raw_ = false, latency_ = false, stopping_ = false;
  uint64_t window_ = 1, count_ = 1, issued_ = 0, done_ = 0, failed_ = 0;
  int64_t deadline_ns_ = INT64_MAX, started_ns_ = 0, sent_ns_ = 0;
  std::vector<int64_t> samples_;
};

class ponger {
 public:
  static constexpr bool nonblocking = true;
  explicit ponger(const mesh::sdk::context&) {}
  void call(const value& msg, writer& reply) { reply.value(msg.as_int(0)); }
};

class timers {
 public:
  static constexpr bool nonblocking = true;

  explicit timers(const mesh::sdk::context& ctx) : host_(ctx.host()) {}

  void call(const value& msg, writer& reply) {
    const auto op = msg["op"].as_string();
    if (op == "fired") {
      reply.map().kv("count", fired_).kv("first_ns", first_ns_).kv("last_ns", last_ns_);
      return;
    }
    if (op == "touch") {
      reply.nil();
      return;
    }
    if (op != "arm") throw mesh::sdk::rejected("unknown op");
    const int64_t count = msg["count"].as_int(1);
    int64_t due_ms = msg["due_ms"].as_int(0);
    bool late = false;
    if (const int64_t at = msg["due_at_ns"].as_int(0); at != 0) {
      const int64_t left = at - now_ns();
      late = left <= 0;
      due_ms = late ? 0 : (left + 999'999) / 1'000'000;
    }
    const bool raw = msg["raw"].as_bool(false);
    for (int64_t i = 0; i < count; ++i) {
      if (raw) {
        if (host_.services()->timer_start(host_.handle(), static_cast<uint64_t>(due_ms), 0,
                                          static_cast<uint64_t>(i + 1), nullptr) == 0)
          throw mesh::sdk::rejected("the host refused a timer");
      } else {
        host_.after(std::chrono::milliseconds(due_ms), [this] { fired(); });
      }
    }
    reply.map().kv("armed", count).kv("late", late);
  }

  /// Firings of the timers armed through the C table.
  void on_message(const mesh_message& m) {
    if (m.kind == MESH_MESSAGE_TIMER) fired();
  }

 private:
  void fired() {
    const int64_t t = now_ns();
    if (fired_++ == 0) first_ns_ = t;
    last_ns_ = t;
  }

  mesh::sdk::host host_;
  uint64_t fired_ = 0;
  int64_t first_ns_ = 0, last_ns_ = 0;
};

}  // namespace

MESH_PLUGIN("mesh-bench-actors", "1.0.0", mesh::sdk::module<pinger>("Pinger", "actorbench"),
            mesh::sdk::module<ponger>("Ponger", "actorpong"),
            mesh::sdk::module<timers>("Timers", "actorbench"))
