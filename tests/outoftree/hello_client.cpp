// A client program built outside the Mesh tree against the installed package (Mesh::client):
// calls module Hello of the host at argv[1] and prints the reply as JSON.
#include <iostream>
#include <mesh/client.hpp>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: hello_client <endpoint> <name>\n";
    return 2;
  }
  mesh::client::client c({argv[1]});
  auto r = c.call("hello", "Hello", argv[2], mesh::client::json_to_msgpack({{"name", argv[2]}}));
  if (!r) {
    std::cerr << r.error().code << ": " << r.error().message << '\n';
    return 1;
  }
  std::cout << mesh::client::json_from_msgpack(r->reply)->dump() << " from " << r->actor.host
            << '\n';
  return 0;
}
