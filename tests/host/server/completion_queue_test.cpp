// The way back from the runtime, in memory: what each entry point encodes, which of them wakes
// the dispatcher, and the order the dispatcher takes them in.
#include <doctest/doctest.h>

#include <poll.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "server/completion_queue.hpp"

using namespace mesh::host;
using json = nlohmann::json;
namespace wire = mesh::wire;

namespace {

/// An actor for the requests to have run on.
struct fake_actor {
  actor_module module;
  activation slot;
  fake_actor() {
    module.name = "Echo";
    module.capability = "echo";
    slot.module = &module;
    slot.id = "a1";
  }
};

std::unique_ptr<inbound> make_call(fake_actor& actor, uint64_t rid, wire::op kind = wire::op::call) {
  auto in = std::make_unique<inbound>();
  in->kind = kind;
  in->rid = rid;
  in->actor = &actor.slot;
  return in;
}

const uint8_t reply_bytes[] = {0xa2, 'h', 'i'};  // msgpack "hi"

outcome ok_outcome() {
  outcome r;
  r.ok = true;
  r.reply = wire::bytes_view{reply_bytes, sizeof reply_bytes};
  r.activation = 3;
  return r;
}

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1;
}

std::vector<std::unique_ptr<inbound>> take(completion_queue& q) {
  std::vector<inbound*> raw;
  q.take_all(raw);
  std::vector<std::unique_ptr<inbound>> out;
  for (inbound* in : raw) out.emplace_back(in);
  return out;
}

}  // namespace

TEST_SUITE("completion_queue") {
  TEST_CASE("a call completed inline is kept with its encoded reply and wakes nobody") {
    const std::string host = "h1";
    completion_queue q(host);
    fake_actor actor;
    auto call = make_call(actor, 9);
    q.complete_inline(call.release(), ok_outcome());
    CHECK_FALSE(readable(q.fd(), 0));
    auto done = take(q);
    REQUIRE(done.size() == 1);
    CHECK(done[0]->outcome == outcome_ok);
    const json r = json::from_msgpack(done[0]->reply.to_string());
    CHECK(r["rid"] == 9);
    CHECK(json::from_msgpack(r["reply"].get_binary()) == "hi");
    CHECK(r["actor"]["host"] == "h1");
    CHECK(r["actor"]["mod"] == "Echo");
    CHECK(r["actor"]["act"] == 3);
  }

  TEST_CASE("a call completed on a worker thread wakes the dispatcher") {
    const std::string host = "h1";
    completion_queue q(host);
    fake_actor actor;
    inbound* call = make_call(actor, 4).release();
    std::thread worker([&] { q.complete_on_worker(call, ok_outcome()); });
    worker.join();
    CHECK(readable(q.fd(), 5000));
    auto done = take(q);
    REQUIRE(done.size() == 1);
    CHECK(json::from_msgpack(done[0]->reply.to_string())["rid"] == 4);
    CHECK_FALSE(readable(q.fd(), 0));  // taken: the wake-up is cleared
  }

  TEST_CASE("the workers' completions are taken before those run inline") {
    const std::string host = "h1";
    completion_queue q(host);
    fake_actor actor;
    q.complete_inline(make_call(actor, 1).release(), ok_outcome());
    q.complete_on_worker(make_call(actor, 2).release(), ok_outcome());
    q.complete_inline(make_call(actor, 3).release(), ok_outcome());
    auto done = take(q);
    REQUIRE(done.size() == 3);
    CHECK(done[0]->rid == 2);
    CHECK(done[1]->rid == 1);
    CHECK(done[2]->rid == 3);
    CHECK(take(q).empty());
  }

  TEST_CASE("a failed call carries its error and the error's outcome") {
    const std::string host = "h1";
    completion_queue q(host);
    fake_actor actor;
    outcome failed;
    failed.code = wire::error_code::rejected;
    failed.message = "no";
    q.complete_on_worker(make_call(actor, 5).release(), failed);
    auto done = take(q);
    REQUIRE(done.size() == 1);
    CHECK(done[0]->outcome == outcome_of(wire::error_code::rejected));
    const json r = json::from_msgpack(done[0]->reply.to_string());
    CHECK(r["ok"] == false);
    CHECK(r["error"]["code"] == "rejected");
    CHECK(r["error"]["msg"] == "no");
  }

  TEST_CASE("a cast comes back with its outcome and no reply") {
    const std::string host = "h1";
    completion_queue q(host);
    fake_actor actor;
    q.complete_inline(make_call(actor, 6, wire::op::cast).release(), ok_outcome());
    auto done = take(q);
    REQUIRE(done.size() == 1);
    CHECK(done[0]->outcome == outcome_ok);
    CHECK(done[0]->reply.size() == 0);
  }
}
