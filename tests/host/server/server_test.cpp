// The request server over inproc:// sockets, in this process: the shapes of frames it accepts,
// the reply path from a worker and from the dispatcher itself (nonblocking modules), forwarded
// requests answered behind their header, and deadlines. Every receive is bounded.
#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <nlohmann/json.hpp>
#include <thread>

#include "cluster/forward_header.hpp"
#include "plugin/plugin_loader.hpp"
#include "server/server.hpp"
#include <mesh/wire/buffer.hpp>
#include <mesh/wire/envelope.hpp>

using namespace mesh::host;
using json = nlohmann::json;
using namespace std::chrono_literals;
namespace wire = mesh::wire;

namespace {

const std::filesystem::path fixture_dir = MESH_FIXTURE_PLUGIN_DIR;

std::string unique_endpoint() {
  static std::atomic<int> n{0};
  return "inproc://server-test-" + std::to_string(n++);
}

/// A server with the Probe (worker) and Quick (nonblocking) fixtures, run on its own thread.
struct running_server {
  zmq::context_t context;
  std::unique_ptr<server> srv;
  std::thread thread;

  /// With `start` false the loop runs only once start() is called (requests queue meanwhile).
  explicit running_server(bool start_now = true) {
    host_config config;
    config.name = "solo";
    config.listen = unique_endpoint();
    config.workers = 1;
    srv = std::make_unique<server>(config, context);
    for (const char* file : {"libfixture_probe.so", "libfixture_quick.so"}) {
      auto plugin = load_plugin(fixture_dir / file);
      REQUIRE(plugin);
      srv->post_plugin(plugin_event{fixture_dir / file, *plugin, {}});
    }
    srv->apply_pending_plugins();
    if (start_now) start();
  }
  void start() { thread = std::thread([this] { srv->run(); }); }
  ~running_server() {
    srv->stop();
    if (thread.joinable()) thread.join();
  }
};

/// A DEALER connected to the server; every receive waits at most 5 s.
struct client {
  zmq::socket_t socket;
  explicit client(running_server& s) : socket(s.context, zmq::socket_type::dealer) {
    socket.set(zmq::sockopt::linger, 0);
    socket.connect(s.srv->endpoint());
  }
  void send(const std::vector<std::string>& parts) {
    for (size_t i = 0; i < parts.size(); ++i)
      socket.send(zmq::buffer(parts[i]),
                  i + 1 < parts.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
  /// The parts of the next message, or none after 5 s.
  std::vector<std::string> receive() {
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, 5s) == 0) return {};
    std::vector<std::string> parts;
    for (bool more = true; more;) {
      zmq::message_t m;
      (void)socket.recv(m, zmq::recv_flags::none);
      parts.push_back(m.to_string());
      more = m.more();
    }
    return parts;
  }
};

std::string request(wire::op kind, uint64_t rid, const std::string& capability = {},
                    const std::string& module = {}, const std::string& id = {},
                    const json& payload = nullptr, uint32_t timeout_ms = 5000) {
  static thread_local std::vector<uint8_t> bytes;
  bytes = payload.is_null() ? std::vector<uint8_t>{} : json::to_msgpack(payload);
  wire::request req;
  req.kind = kind;
  req.rid = rid;
  req.capability = capability;
  req.module = module;
  req.id = wire::bytes_view{reinterpret_cast<const uint8_t*>(id.data()), id.size()};
  req.payload = wire::bytes_view{bytes.data(), bytes.size()};
  req.timeout_ms = timeout_ms;
  wire::buffer out;
  wire::encode_request(out, req);
  return std::string(reinterpret_cast<const char*>(out.data()), out.size());
}

/// A once call to quick/Quick id "q", addressed to incarnation `inc` of its host.
std::string addressed_call(uint64_t rid, uint64_t inc) {
  wire::request req;
  req.kind = wire::op::call;
  req.rid = rid;
  req.capability = "quick";
  req.module = "Quick";
  req.id = wire::bytes_view{reinterpret_cast<const uint8_t*>("q"), 1};
  req.once = true;
  req.to_incarnation = inc;
  wire::buffer out;
  wire::encode_request(out, req);
  return std::string(out.data(), out.size());
}

json decode(const std::string& frame) { return json::from_msgpack(frame); }

/// A call reply's "reply": the actor's MessagePack object, carried as bytes.
json body(const json& reply) { return json::from_msgpack(reply["reply"].get_binary()); }

}  // namespace

TEST_SUITE("server") {
  TEST_CASE("every request still queued when the host stops is refused with its own rid") {
    running_server s(false);
    client c(s);
    constexpr uint64_t queued = 400;
    for (uint64_t rid = 1; rid <= queued; ++rid)
      c.send({request(wire::op::call, rid, "quick", "Quick", "q" + std::to_string(rid % 7),
                      json{{"op", "where"}})});
    s.srv->stop();  // before the loop has read any of them
    s.start();
    std::set<uint64_t> answered;
    size_t refused = 0;  // the others were served in the loop's last turns, before it ended
    for (uint64_t i = 0; i < queued; ++i) {
      const auto reply = c.receive();
      if (reply.size() != 1) break;
      const json r = decode(reply[0]);
      answered.insert(r["rid"].get<uint64_t>());
      if (r["ok"] == false) {
        CHECK(r["error"]["code"] == "shutting_down");
        ++refused;
      }
    }
    CHECK(answered.size() == queued);
    CHECK_FALSE(answered.count(0));
    MESSAGE(refused << " of " << queued << " refused with shutting_down");
  }

  TEST_CASE("a refused envelope whose rid can be read is answered with that rid") {
    running_server s;
    client c(s);
    // {"v":1,"op":"actors","limit":0,"rid":77}: limit out of range, rid after it.
    c.send({std::string("\x84\xa1v\x01\xa2op\xa6""actors\xa5limit\x00\xa3rid\x4d", 26)});
    auto reply = c.receive();
    REQUIRE(reply.size() == 1);
    json r = decode(reply[0]);
    CHECK(r["rid"] == 77);
    CHECK(r["error"]["code"] == "bad_request");
    // {"v":1,"op":"fly","rid":9}
    c.send({std::string("\x83\xa1v\x01\xa2op\xa3""fly\xa3rid\x09", 16)});
    reply = c.receive();
    REQUIRE(reply.size() == 1);
    r = decode(reply[0]);
    CHECK(r["rid"] == 9);
    CHECK(r["error"]["code"] == "unknown_op");
    // Not a map: nothing can be read, rid 0.
    c.send({std::string("\x93\x01\x02\x03", 4)});
    reply = c.receive();
    REQUIRE(reply.size() == 1);
    CHECK(decode(reply[0])["rid"] == 0);
  }

  TEST_CASE("a host without gossip refuses, unrun, a request addressed to an incarnation") {
    running_server s;
    client c(s);
    c.send({addressed_call(5, 12345)});
    const auto reply = c.receive();
    REQUIRE(reply.size() == 1);
    const json r = decode(reply[0]);
    CHECK(r["rid"] == 5);
    CHECK(r["error"]["code"] == "wrong_owner");
  }

  TEST_CASE("a clustered host refuses a request addressed to its earlier run before its first view") {
    running_server s(false);
    cluster_hooks hooks;
    hooks.incarnation = 7;  // this run; no view has arrived yet
    s.srv->enable_cluster(mesh::placement::make_rendezvous(), std::move(hooks));
    s.start();
    client c(s);
    c.send({addressed_call(6, 6)});  // 6: the run before this one, which the caller saw die
    const auto reply = c.receive();
    REQUIRE(reply.size() == 1);
    const json r = decode(reply[0]);
    CHECK(r["rid"] == 6);
    CHECK(r["error"]["code"] == "wrong_owner");  // not run: the caller may send it elsewhere
  }

  TEST_CASE("a ping over the request socket is answered with the host's name") {
    running_server s;
    client c(s);
    c.send({request(wire::op::ping, 1)});
    const auto reply = c.receive();
    REQUIRE(reply.size() == 1);
    const json r = decode(reply[0]);
    CHECK(r["rid"] == 1);
    CHECK(r["ok"] == true);
    CHECK(r["host"] == "solo");
  }

  TEST_CASE("a request behind an empty delimiter is answered behind one") {
    running_server s;
    client c(s);
    c.send({"", request(wire::op::ping, 2)});
    const auto reply = c.receive();
    REQUIRE(reply.size() == 2);
    CHECK(reply[0].empty());
    CHECK(decode(reply[1])["rid"] == 2);
  }

  TEST_CASE("a message of three frames is answered bad_request") {
    running_server s;
    client c(s);
    c.send({"x", "y", request(wire::op::ping, 3)});
    const auto reply = c.receive();
    REQUIRE(reply.size() == 1);
    CHECK(decode(reply[0])["error"]["code"] == "bad_request");
  }

  TEST_CASE("two delimiters, or an empty frame after the request, are answered bad_request, rid 0") {
    running_server s;
    client c(s);
    for (const auto& parts : std::vector<std::vector<std::string>>{
             {"", "", request(wire::op::ping, 4)}, {request(wire::op::ping, 5), ""}}) {
      c.send(parts);
      const auto reply = c.receive();
      REQUIRE(reply.size() == 1);  // no delimiter in front
      const json r = decode(reply[0]);
      CHECK(r["error"]["code"] == "bad_request");
      CHECK(r["rid"] == 0);
    }
  }

  TEST_CASE("a call for a capability nobody serves is answered unknown_capability") {
    running_server s;
    client c(s);
    c.send({request(wire::op::call, 4, "nobody", "Nobody", "k", json{{"op", "info"}})});
    const auto reply = c.receive();
    REQUIRE(reply.size() == 1);
    CHECK(decode(reply[0])["error"]["code"] == "unknown_capability");
  }

  TEST_CASE("a call whose handler runs on a worker is answered with the actor's reply") {
    running_server s;
    client c(s);
    c.send({request(wire::op::call, 5, "probe", "Probe", "p1", json{{"op", "info"}})});
    const auto reply = c.receive();
    REQUIRE(reply.size() == 1);
    const json r = decode(reply[0]);
    CHECK(r["rid"] == 5);
    REQUIRE(r["ok"] == true);
    CHECK(r["actor"]["host"] == "solo");
    CHECK(r["actor"]["mod"] == "Probe");
    CHECK(body(r)["calls"] == 1);
  }

  TEST_CASE("a call the dispatcher runs itself is answered with the actor's reply") {
    running_server s;
    client c(s);
    for (uint64_t rid = 10; rid < 15; ++rid)
      c.send({request(wire::op::call, rid, "quick", "Quick", "q", json{{"op", "where"}})});
    for (uint64_t rid = 10; rid < 15; ++rid) {
      const auto reply = c.receive();
      REQUIRE(reply.size() == 1);
      const json r = decode(reply[0]);
      CHECK(r["rid"] == rid);
      REQUIRE(r["ok"] == true);
      CHECK(body(r)["calls"] == rid - 9);
    }
  }

  TEST_CASE("a call whose deadline passes before its handler returns is answered timeout") {
    running_server s;
    client c(s);
    c.send({request(wire::op::call, 6, "probe", "Probe", "slow", json{{"op", "sleep"}, {"ms", 400}},
                    50)});
    const auto reply = c.receive();
    REQUIRE(reply.size() == 1);
    const json r = decode(reply[0]);
    CHECK(r["rid"] == 6);
    CHECK(r["error"]["code"] == "timeout");
  }

  TEST_CASE("a forwarded request is answered behind a header with its forwarding number") {
    running_server s;
    client c(s);
    forward_header h;
    h.fseq = 77;
    h.from = "other";
    h.epoch = 1;
    wire::buffer hb;
    encode_forward_header(hb, h);
    c.send({std::string(reinterpret_cast<const char*>(hb.data()), hb.size()),
            request(wire::op::ping, 7)});
    const auto reply = c.receive();
    REQUIRE(reply.size() == 2);
    const auto back = decode_forward_header(reinterpret_cast<const uint8_t*>(reply[0].data()),
                                            reply[0].size());
    REQUIRE(back);
    CHECK(back->fseq == 77);
    CHECK_FALSE(back->retry);
    CHECK(decode(reply[1])["rid"] == 7);
  }
}
