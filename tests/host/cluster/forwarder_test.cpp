// The forwarder over inproc:// sockets: a ROUTER in the test plays the owner host. What reaches
// the owner, how its reply and its refusals come back, what happens when the owner is not
// connected, and what the forwarder hands back to the server. Every receive is bounded.
#include <doctest/doctest.h>

#include <thread>

#include <unistd.h>

#include <atomic>

#include "cluster/forward_header.hpp"
#include "cluster/forwarder.hpp"
#include <mesh/wire/buffer.hpp>
#include <mesh/wire/envelope.hpp>

using namespace mesh::host;
namespace discovery = mesh::discovery;
namespace placement = mesh::placement;
namespace wire = mesh::wire;
using namespace std::chrono_literals;

namespace {

std::string unique_endpoint(const char* what) {
  static std::atomic<int> n{0};
  return std::string("inproc://forwarder-test-") + what + "-" + std::to_string(n++);
}

/// An endpoint nobody listens on: an ipc:// path that is never bound, so every connection
/// attempt fails at once. (Not an inproc endpoint: libzmq queues for an inproc peer that has
/// not bound yet; not a TCP port bound and closed again: the listener closes asynchronously, and
/// a connection can still complete to it meanwhile.)
std::string unbound_endpoint(zmq::context_t&) {
  static std::atomic<int> n{0};
  return "ipc:///tmp/mesh-forwarder-test-" + std::to_string(::getpid()) + "-" +
         std::to_string(n++) + "-nobody";
}

discovery::member_record record(std::string name, std::string endpoint, uint64_t incarnation,
                                std::vector<std::string> caps = {"echo"}) {
  discovery::member_record m;
  m.name = std::move(name);
  m.endpoint = std::move(endpoint);
  m.incarnation = incarnation;
  m.capabilities = std::move(caps);
  return m;
}

/// The forwarding host "a" and a peer "b" (a ROUTER bound in the test).
struct fixture {
  zmq::context_t context;
  host_config config;
  std::string local = "inproc://a";
  deadlines timers;
  host_counters stats;
  forwarder fw{context, config, local, timers, stats};
  zmq::socket_t peer{context, zmq::socket_type::router};
  discovery::member_record b = record("b", unique_endpoint("b"), 3);
  std::unique_ptr<placement::placement_strategy> strategy = placement::make_rendezvous();
  std::vector<uint8_t> frame_bytes;

  fixture() {
    config.name = "a";
    config.shards = 16;
    peer.set(zmq::sockopt::linger, 0);
    peer.bind(b.endpoint);
  }

  /// A call for echo/Echo id "k", as the client sent it.
  std::unique_ptr<inbound> call(uint64_t rid, clock::duration left = 5s) {
    wire::request req;
    req.kind = wire::op::call;
    req.rid = rid;
    req.capability = "echo";
    req.module = "Echo";
    req.id = wire::bytes_view{reinterpret_cast<const uint8_t*>("k"), 1};
    wire::buffer out;
    wire::encode_request(out, req);
    auto in = std::make_unique<inbound>();
    in->frame.rebuild(out.data(), out.size());
    in->rid = rid;
    in->kind = wire::op::call;
    in->timeout_ms = 5000;
    in->deadline = clock::now() + left;
    return in;
  }

  /// The next message the peer receives: [routing id, header, body], or none after 5 s.
  std::vector<zmq::message_t> peer_receive() {
    zmq::pollitem_t item{peer.handle(), 0, ZMQ_POLLIN, 0};
    std::vector<zmq::message_t> parts;
    if (zmq::poll(&item, 1, 5s) == 0) return parts;
    for (bool more = true; more;) {
      zmq::message_t m;
      (void)peer.recv(m, zmq::recv_flags::none);
      more = m.more();
      parts.push_back(std::move(m));
    }
    return parts;
  }

  /// The peer answers `fseq` (a refusal naming `owner` when `retry`) with `body`.
  void peer_reply(zmq::message_t& routing_id, uint64_t fseq, const std::string& body,
                  bool retry = false, const std::string& owner = {}) {
    forward_header h;
    h.fseq = fseq;
    h.retry = retry;
    h.owner = owner;
    wire::buffer hb;
    encode_forward_header(hb, h);
    peer.send(routing_id, zmq::send_flags::sndmore);
    peer.send(zmq::buffer(hb.data(), hb.size()), zmq::send_flags::sndmore);
    peer.send(zmq::buffer(body), zmq::send_flags::none);
  }

  /// Waits (at most 5 s) for replies on the forwarder's links and collects them.
  std::vector<relayed_reply> receive_replies() {
    std::vector<zmq::pollitem_t> items;
    fw.add_poll_items(items);
    std::vector<relayed_reply> out;
    if (zmq::poll(items.data(), items.size(), 5s) > 0) fw.receive_replies(items.data(), out);
    return out;
  }

  /// A routing table in which only `members` have echo.
  std::unique_ptr<routing_table> routes(std::vector<discovery::member_record> members) {
    discovery::member_view v;
    v.members = std::move(members);
    v.epoch = 9;
    return std::make_unique<routing_table>(v, *strategy, config.shards, config.name);
  }
};

}  // namespace

TEST_SUITE("forwarder") {
  TEST_CASE("a forwarded request reaches its owner unchanged behind a header that numbers it") {
    fixture f;
    auto in = f.call(1);
    const std::string frame = in->frame.to_string();
    const auto deadline = in->deadline;
    f.fw.forward(std::move(in), f.b, 42);
    CHECK(f.stats.forwarded == 1);
    CHECK(f.fw.in_flight() == 1);
    auto parts = f.peer_receive();
    REQUIRE(parts.size() == 3);
    const auto h = decode_forward_header(parts[1].data<uint8_t>(), parts[1].size());
    REQUIRE(h);
    CHECK(h->from == "a");
    CHECK(h->epoch == 42);
    CHECK(h->hops == 0);
    CHECK(h->to_incarnation == 3);
    CHECK(f.fw.waiting(h->fseq));
    CHECK(parts[2].to_string() == frame);
    REQUIRE(f.timers.next().has_value());
    CHECK(*f.timers.next() == deadline);
  }

  TEST_CASE("the owner's reply is handed back unchanged with the request it answers") {
    fixture f;
    f.fw.forward(f.call(7), f.b, 42);
    auto parts = f.peer_receive();
    REQUIRE(parts.size() == 3);
    const auto h = decode_forward_header(parts[1].data<uint8_t>(), parts[1].size());
    REQUIRE(h);
    f.peer_reply(parts[0], h->fseq, "the owner's reply");
    auto replies = f.receive_replies();
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].in->rid == 7);
    CHECK(replies[0].body.to_string() == "the owner's reply");
    CHECK(f.fw.in_flight() == 0);
    CHECK_FALSE(f.fw.waiting(h->fseq));
  }

  TEST_CASE("a reply for a request no longer waiting is dropped") {
    fixture f;
    f.fw.forward(f.call(8), f.b, 42);
    auto parts = f.peer_receive();
    REQUIRE(parts.size() == 3);
    const auto h = decode_forward_header(parts[1].data<uint8_t>(), parts[1].size());
    REQUIRE(h);
    auto timed_out = f.fw.take(h->fseq);  // its deadline passed
    REQUIRE(timed_out);
    CHECK(timed_out->rid == 8);
    CHECK(f.fw.take(h->fseq) == nullptr);
    f.peer_reply(parts[0], h->fseq, "late");
    CHECK(f.receive_replies().empty());
  }

  TEST_CASE("a refusal is routed again and handed back to serve here when this host owns the key") {
    fixture f;
    f.fw.forward(f.call(9), f.b, 42);
    auto parts = f.peer_receive();
    REQUIRE(parts.size() == 3);
    const auto h = decode_forward_header(parts[1].data<uint8_t>(), parts[1].size());
    REQUIRE(h);
    f.peer_reply(parts[0], h->fseq, "", true, "a");
    CHECK(f.receive_replies().empty());
    CHECK(f.stats.forward_retries == 1);
    CHECK(f.fw.retries_waiting());
    auto routes = f.routes({record("a", f.local, 1)});  // only a has echo now
    std::vector<returned_request> back;
    f.fw.run_due_retries(clock::now() + 1s, *routes, back);
    REQUIRE(back.size() == 1);
    CHECK(back[0].serve_here);
    CHECK(back[0].in->rid == 9);
    CHECK(back[0].req.rid == 9);
    CHECK(back[0].req.capability == "echo");
    CHECK(f.fw.in_flight() == 0);
    CHECK_FALSE(f.fw.retries_waiting());
  }

  TEST_CASE("a refused request is sent again to its owner, counting the attempt") {
    fixture f;
    f.fw.forward(f.call(10), f.b, 42);
    auto first = f.peer_receive();
    REQUIRE(first.size() == 3);
    const auto h = decode_forward_header(first[1].data<uint8_t>(), first[1].size());
    REQUIRE(h);
    f.peer_reply(first[0], h->fseq, "", true, "b");
    CHECK(f.receive_replies().empty());
    auto routes = f.routes({record("b", f.b.endpoint, 3)});  // b is still the only owner
    std::vector<returned_request> back;
    f.fw.run_due_retries(clock::now() + 1s, *routes, back);
    CHECK(back.empty());
    auto second = f.peer_receive();
    REQUIRE(second.size() == 3);
    const auto h2 = decode_forward_header(second[1].data<uint8_t>(), second[1].size());
    REQUIRE(h2);
    CHECK(h2->hops == 1);
    CHECK(h2->epoch == 9);
    CHECK(h2->fseq != h->fseq);
    CHECK(f.stats.forwarded == 2);
  }

  TEST_CASE("a refusal whose hint names this host goes back to the view's owner, never served here") {
    fixture f;
    f.fw.forward(f.call(15), f.b, 42);
    auto first = f.peer_receive();
    REQUIRE(first.size() == 3);
    const auto h = decode_forward_header(first[1].data<uint8_t>(), first[1].size());
    REQUIRE(h);
    // b, still on an older view, says a owns the key; a's own view says b does.
    f.peer_reply(first[0], h->fseq, "", true, "a");
    CHECK(f.receive_replies().empty());
    auto routes = f.routes({record("a", f.local, 1, {"other"}), record("b", f.b.endpoint, 3)});
    std::vector<returned_request> back;
    f.fw.run_due_retries(clock::now() + 1s, *routes, back);
    CHECK(back.empty());  // not handed back to serve here
    auto second = f.peer_receive();
    REQUIRE(second.size() == 3);
    const auto h2 = decode_forward_header(second[1].data<uint8_t>(), second[1].size());
    REQUIRE(h2);
    CHECK(h2->hops == 1);
    CHECK(f.fw.in_flight() == 1);
  }

  TEST_CASE("a request for an owner that is not connected is retried, not lost") {
    fixture f;
    const auto nobody = record("c", unbound_endpoint(f.context), 1);
    f.fw.forward(f.call(11), nobody, 42);
    CHECK(f.stats.forwarded == 0);
    CHECK(f.stats.forward_unreachable == 1);
    CHECK(f.fw.in_flight() == 1);
    CHECK(f.fw.retries_waiting());
    auto routes = f.routes({record("a", f.local, 1)});
    std::vector<returned_request> back;
    f.fw.run_due_retries(clock::now() + 1s, *routes, back);
    REQUIRE(back.size() == 1);
    CHECK(back[0].serve_here);
  }

  TEST_CASE("requests for an owner not connected yet reach it in the order they were sent") {
    fixture f;
    // The owner's endpoint is not bound when the first requests go: they wait in the link's
    // backlog. Once it listens, a new request must not overtake them.
    const auto late = record("c", unbound_endpoint(f.context), 1);
    for (uint64_t rid = 1; rid <= 3; ++rid) f.fw.forward(f.call(rid), late, 42);
    CHECK(f.stats.forward_unreachable == 3);
    zmq::socket_t owner(f.context, zmq::socket_type::router);
    owner.set(zmq::sockopt::linger, 0);
    owner.bind(late.endpoint);
    std::this_thread::sleep_for(300ms);  // the link reconnects (100 ms interval)
    f.fw.forward(f.call(4), late, 42);  // connected now, but three wait before it
    auto routes = f.routes({record("a", f.local, 1, {}), late});  // only c serves echo
    std::vector<returned_request> back;
    const auto end = clock::now() + 5s;
    while (f.fw.retries_waiting() && clock::now() < end) {
      f.fw.run_due_retries(clock::now() + 200ms, *routes, back);
      std::this_thread::sleep_for(20ms);
    }
    CHECK(back.empty());
    std::vector<uint64_t> order;
    zmq::pollitem_t item{owner.handle(), 0, ZMQ_POLLIN, 0};
    while (order.size() < 4 && zmq::poll(&item, 1, 2s) > 0) {
      std::vector<zmq::message_t> parts;
      for (bool more = true; more;) {
        zmq::message_t m;
        (void)owner.recv(m, zmq::recv_flags::none);
        more = m.more();
        parts.push_back(std::move(m));
      }
      REQUIRE(parts.size() == 3);
      order.push_back(wire::read_rid(parts[2].data<uint8_t>(), parts[2].size()).value_or(0));
    }
    CHECK(order == std::vector<uint64_t>{1, 2, 3, 4});
    ::unlink(late.endpoint.substr(6).c_str());
  }

  TEST_CASE("a request whose deadline passed while it waited for a retry is handed back as a timeout") {
    fixture f;
    const auto nobody = record("c", unbound_endpoint(f.context), 1);
    f.fw.forward(f.call(12, -1ms), nobody, 42);
    auto routes = f.routes({record("a", f.local, 1)});
    std::vector<returned_request> back;
    f.fw.run_due_retries(clock::now() + 1s, *routes, back);
    REQUIRE(back.size() == 1);
    CHECK_FALSE(back[0].serve_here);
    CHECK(back[0].code == wire::error_code::timeout);
    CHECK(back[0].in->rid == 12);
  }

  TEST_CASE("a new view without the owner routes its requests again and closes its link") {
    fixture f;
    f.fw.forward(f.call(13), f.b, 42);
    std::vector<zmq::pollitem_t> items;
    f.fw.add_poll_items(items);
    CHECK(items.size() == 1);
    CHECK_FALSE(f.fw.retries_waiting());
    auto routes = f.routes({record("a", f.local, 1)});
    f.fw.view_changed(*routes);
    CHECK(f.fw.retries_waiting());
    CHECK(f.fw.links_changed());
    items.clear();
    f.fw.add_poll_items(items);
    CHECK(items.empty());
  }

  TEST_CASE("a restart of the owner routes the requests sent to its earlier run again") {
    fixture f;
    f.fw.forward(f.call(14), f.b, 42);
    f.fw.view_changed(*f.routes({record("a", f.local, 1), record("b", f.b.endpoint, 3)}));
    CHECK_FALSE(f.fw.retries_waiting());  // the same run: keep waiting
    f.fw.view_changed(*f.routes({record("a", f.local, 1), record("b", f.b.endpoint, 4)}));
    CHECK(f.fw.retries_waiting());
  }
}
