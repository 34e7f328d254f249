// Module `Echo` (capability `bench`): replies with its payload unchanged; the baseline for
// measuring the host's own overhead. `{"action": "crash"}` fails the actor like every example.
// A cast runs the same handler and the SDK discards the reply.
#include <mesh/sdk.hpp>
#include <stdexcept>

namespace mesh::examples {

/// Stateless echo: the reply is the payload, re-packed from the decoded view without copies.
class echo {
 public:
  /// Handlers only compute in memory: the host may run them on its request thread.
  static constexpr bool nonblocking = true;

  explicit echo(const sdk::context&) noexcept {}

  void call(const sdk::value& msg, sdk::writer& reply) {
    if (msg.is_map() && msg.size() == 1) {
      const sdk::value action = msg["action"];
      if (action.is_string() && action.as_string() == "crash")
        throw std::runtime_error("echo crashed on request");
    }
    reply.packer().pack(msg.object());
  }
};

}  // namespace mesh::examples

MESH_PLUGIN("mesh-echo", "1.0.0", mesh::sdk::module<mesh::examples::echo>("Echo", "bench"))
