// Module `Hello` (capability `hello`): replies {"hello": name}, where name is the payload's
// "name" or "world".
#include <mesh/sdk.hpp>

class hello {
 public:
  explicit hello(const mesh::sdk::context&) {}
  void call(const mesh::sdk::value& msg, mesh::sdk::writer& reply) {
    reply.map().kv("hello", msg["name"].as_string("world"));
  }
};

MESH_PLUGIN("outoftree-hello", "1.0.0", mesh::sdk::module<hello>("Hello", "hello"))
