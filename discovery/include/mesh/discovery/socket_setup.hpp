// Hooks that secure the gossip sockets (CURVE, docs/SECURITY.md) without the membership code
// knowing about keys: the host fills them in; empty hooks leave the sockets plain.
#pragma once

#include <functional>
#include <zmq.hpp>

namespace mesh::discovery {

struct socket_setup {
  /// Called on a socket before it binds (e.g. make it a CURVE server in the gossip domain).
  std::function<void(zmq::socket_t&)> before_bind;
  /// Called on a socket before it connects to another host (e.g. a CURVE client).
  std::function<void(zmq::socket_t&)> before_connect;
};

}  // namespace mesh::discovery
