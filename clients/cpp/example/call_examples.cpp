// mesh-client-example: a program that uses the C++ client library (mesh/client.hpp) to call
// the example actors of a running cluster, e.g. the one tools/demo.sh starts:
//
//   build/tools/client/mesh-client-example tcp://127.0.0.1:7100 tcp://127.0.0.1:7110
//
// It moves a player, posts to a chat room, credits a payment account (twice with the same
// request id: applied once), then keeps 200 calls in flight from this one thread and reports
// how many of them each host served. Exits non-zero if any call fails.
#include <cstdio>
#include <iostream>
#include <map>
#include <mesh/client.hpp>
#include <string>
#include <vector>

namespace mc = mesh::client;
using json = mc::json;

namespace {

/// Calls one actor and prints what came back; returns whether it succeeded.
bool show(mc::client& c, const char* cap, const char* module, const std::string& id,
          const json& payload) {
  auto r = c.call(cap, module, id, mc::json_to_msgpack(payload));
  if (!r) {
    std::cout << module << ' ' << id << ": error " << r.error().code << ": " << r.error().message
              << '\n';
    return false;
  }
  std::cout << module << ' ' << id << " on " << r->actor.host << ": "
            << mc::json_from_msgpack(r->reply)->dump() << '\n';
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> endpoints(argv + 1, argv + argc);
  if (endpoints.empty()) endpoints = {"tcp://127.0.0.1:7100"};
  try {
    mc::client c(endpoints);  // learns the cluster and calls each actor's owner directly
    bool ok = true;
    ok &= show(c, "game", "GameActor", "player_1", {{"action", "move"}, {"x", 3}, {"y", 4}});
    ok &= show(c, "chat", "ChatActor", "room_1",
               {{"action", "post"}, {"user", "ann"}, {"text", "hello"}});
    ok &= show(c, "chat", "ChatActor", "room_1", {{"action", "history"}});
    for (int i = 0; i < 2; ++i)  // the same request id twice: charged once
      ok &= show(c, "payment", "PaymentActor", "account_1",
                 {{"action", "credit"}, {"amount", 100}, {"request_id", "deposit-1"}});
    ok &= show(c, "payment", "PaymentActor", "account_1", {{"action", "balance"}});

    // Asynchronous: 2,000 calls over 100 players, 200 in flight, all from this thread.
    const auto move = mc::json_to_msgpack({{"action", "move"}, {"x", 1}, {"y", 1}});
    std::vector<std::string> ids;
    for (int i = 0; i < 100; ++i) ids.push_back("player_" + std::to_string(i));
    std::map<std::string, int> by_host;
    int sent = 0, failed = 0;
    std::function<void()> next = [&] {
      c.call_async({"game", "GameActor", ids[sent++ % ids.size()], mc::view_of(move)},
                   [&](tl::expected<mc::call_result, mc::error> r) {
                     if (r)
                       ++by_host[r->actor.host];
                     else
                       ++failed;
                     if (sent < 2'000) next();
                   });
    };
    for (int i = 0; i < 200; ++i) next();
    if (!c.drain(std::chrono::seconds(30))) {
      std::cout << "calls still in flight after 30 s\n";
      return 1;
    }
    std::cout << "2000 async calls, " << failed << " failed; served by:";
    for (const auto& [host, n] : by_host) std::cout << ' ' << host << '=' << n;
    std::cout << "\nrouted directly to the owner: " << c.stats().direct << ", through a host: "
              << c.stats().via_any << '\n';
    return ok && failed == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "mesh-client-example: " << e.what() << '\n';
    return 2;
  }
}
