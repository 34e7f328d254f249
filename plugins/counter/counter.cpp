// Module `Counter` (capability `counter`): the smallest useful actor, one integer per id.
//
//   init_arg {"start": N}               the first value (default 0)
//   call {"op": "incr", "by": N}        adds N (default 1), replies {"count": new}
//   call {"op": "get"}                  replies {"count": n}
//   call {"op": "crash"}                fails the actor (the next request gets a fresh one)
//   cast {"op": "incr", ...}            as the call, without a reply
#include <cstdint>
#include <mesh/sdk.hpp>
#include <stdexcept>
#include <string>

namespace mesh::examples {

/// One counter; its state lives only as long as the activation.
class counter {
 public:
  /// Handlers only compute in memory: the host may run them on its request thread.
  static constexpr bool nonblocking = true;

  explicit counter(const sdk::context& ctx) : count_(ctx.init_arg()["start"].as_int(0)) {}

  void call(const sdk::value& msg, sdk::writer& reply) {
    const std::string_view op = msg["op"].as_string();
    if (op == "incr") {
      int64_t next = 0;  // a rejected request must leave the count as it was
      if (__builtin_add_overflow(count_, msg["by"].as_int(1), &next))
        throw sdk::rejected("counter would overflow");
      count_ = next;
    } else if (op == "crash") {
      throw std::runtime_error("counter crashed on request");
    } else if (op != "get") {
      throw sdk::rejected("unknown op \"" + std::string(op) + "\" (expected incr, get or crash)");
    }
    reply.map().kv("count", count_);
  }

 private:
  int64_t count_;
};

}  // namespace mesh::examples

MESH_PLUGIN("mesh-counter", "1.0.0",
            mesh::sdk::module<mesh::examples::counter>("Counter", "counter"))
