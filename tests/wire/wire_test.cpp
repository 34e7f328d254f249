#include <doctest/doctest.h>

#include <string>

#include "wire/wire.hpp"

using namespace mesh::wire;

namespace {

tl::expected<request, error> decode(const std::string& bytes, msgpack::zone& zone) {
  return decode_request(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), zone);
}

std::string encode(const request& req) {
  buffer b;
  encode_request(b, req);
  return std::string(b.data(), b.size());
}

bytes_view view(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

TEST_CASE("shard_for is stable across releases: the documented test vectors") {
  // These values are part of the wire contract (docs/PROTOCOL.md); never change them.
  // Computed independently (Python) from the definition: FNV-1a 64, then fmix64.
  CHECK(id_hash(view("")) == 0xefd01f60ba992926ULL);
  CHECK(id_hash(view("player_1")) == 0x6dab13bc51ce39b6ULL);
  CHECK(shard_for("") == 2342);
  CHECK(shard_for("player_1") == 2486);
  CHECK(shard_for("a") == 3675);
  CHECK(shard_for("chat:room-42") == 2841);
  CHECK(shard_for("player_1", 4096) == static_cast<uint32_t>(id_hash(view("player_1")) % 4096));
  CHECK(shard_for("anything", 1) == 0);
  CHECK(shard_for("anything", 0) == 0);
}

TEST_CASE("shard_for spreads ids evenly over the shards") {
  constexpr uint32_t shards = 64;
  std::vector<int> counts(shards);
  for (int i = 0; i < 64000; ++i) ++counts[shard_for("user-" + std::to_string(i), shards)];
  for (int c : counts) {
    CHECK(c > 800);
    CHECK(c < 1200);
  }
}

TEST_CASE("a call request survives an encode and decode round trip without copying the payload") {
  const std::string payload = "\x81\xa2op\xa4incr";
  const std::string init = "\x81\xa5start\x05";
  const std::string id = "player_1";
  request req;
  req.kind = op::call;
  req.rid = 77;
  req.capability = "game";
  req.module = "GameActor";
  req.id = view(id);
  req.payload = view(payload);
  req.init_arg = view(init);
  req.timeout_ms = 1234;
  const std::string frame = encode(req);
  msgpack::zone zone;
  auto got = decode(frame, zone);
  REQUIRE(got);
  CHECK(got->kind == op::call);
  CHECK(got->rid == 77);
  CHECK(got->capability == "game");
  CHECK(got->module == "GameActor");
  CHECK(got->id.as_string() == "player_1");
  CHECK(got->payload.as_string() == payload);
  CHECK(got->init_arg.as_string() == init);
  CHECK(got->timeout_ms == 1234);
  // The payload view points into the frame itself.
  CHECK(reinterpret_cast<const char*>(got->payload.data) >= frame.data());
  CHECK(reinterpret_cast<const char*>(got->payload.data) < frame.data() + frame.size());
}

TEST_CASE("malformed envelopes are refused with bad_request and a reason") {
  msgpack::zone zone;
  auto code_of = [&](const std::string& bytes) {
    zone.clear();
    auto r = decode(bytes, zone);
    return r ? std::string("ok") : std::string(to_string(r.error().code));
  };
  CHECK(code_of("") == "bad_request");
  CHECK(code_of("\xc1") == "bad_request");                            // never-used byte
  CHECK(code_of(std::string("\xdd\xff\xff\xff\xff", 5)) == "bad_request");  // 4G-element array
  CHECK(code_of(std::string("\xdf\xff\xff\xff\xff", 5)) == "bad_request");  // 4G-entry map
  CHECK(code_of(std::string(100, '\x91') + "\xc0") == "bad_request");  // nesting too deep
  CHECK(code_of("\x93\x01\x02\x03") == "bad_request");                // not a map
  CHECK(code_of("\x81\xa1v\x01") == "bad_request");                   // no op
  CHECK(code_of("\x82\xa1v\x02\xa2op\xa4ping") == "unsupported_version");
  CHECK(code_of("\x82\xa1v\x01\xa2op\xa4jump") == "unknown_op");
  CHECK(code_of("\x82\xa1v\x01\xa2op\xa4ping") == "ok");
  CHECK(code_of("\x82\xa1v\x01\xa2op\xa4" "call") == "bad_request");   // no cap, mod, id
  CHECK(code_of(std::string("\x82\xa1v\x01\xa2op\xa4ping", 12) + "\xc0") == "bad_request");
}

TEST_CASE("a payload that is not exactly one MessagePack object is refused") {
  request req;
  req.kind = op::call;
  req.capability = "c";
  req.module = "m";
  const std::string id = "i";
  req.id = view(id);
  msgpack::zone zone;
  for (std::string bad : {std::string("\x82\xa2op"), std::string("\x01\x02"), std::string("\xc1")}) {
    req.payload = view(bad);
    auto r = decode(encode(req), zone);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == error_code::bad_request);
  }
}

TEST_CASE("error and call replies decode to what was encoded") {
  buffer b;
  encode_error(b, 9, error_code::unknown_module, "no module \"X\"");
  msgpack::zone zone;
  auto e = decode_reply(reinterpret_cast<const uint8_t*>(b.data()), b.size(), zone);
  REQUIRE(e);
  CHECK_FALSE(e->ok);
  CHECK(e->rid == 9);
  CHECK(e->error_code == "unknown_module");
  CHECK(e->error_message == "no module \"X\"");
  b.clear();
  const std::string reply = "\x81\xa5" "count\x03";
  const std::string id = "c1";
  encode_call_reply(b, 10, actor_ref{"h:1", "Counter", view(id), 5}, view(reply));
  auto ok = decode_reply(reinterpret_cast<const uint8_t*>(b.data()), b.size(), zone);
  REQUIRE(ok);
  CHECK(ok->ok);
  CHECK(ok->body.as_string() == reply);
  CHECK(ok->actor.host == "h:1");
  CHECK(ok->actor.module == "Counter");
  CHECK(ok->actor.id.as_string() == "c1");
  CHECK(ok->actor.activation == 5);
}

TEST_CASE("every error code has a wire name that parses back") {
  for (int i = 0; i <= static_cast<int>(error_code::wrong_owner); ++i) {
    const auto code = static_cast<error_code>(i);
    CHECK(error_code_from_string(to_string(code)) == code);
  }
  CHECK_FALSE(error_code_from_string("no_such_code").has_value());
}

TEST_CASE("once requests end with the retry flag, so a re-send flips one byte") {
  request req;
  req.kind = op::call;
  req.rid = 77;
  req.capability = "counter";
  req.module = "Counter";
  const std::string id = "c1";
  req.id = {reinterpret_cast<const uint8_t*>(id.data()), id.size()};
  req.once = true;
  buffer out;
  encode_request(out, req);
  std::string frame(out.data(), out.size());
  REQUIRE(static_cast<uint8_t>(frame.back()) == 0xc2);
  msgpack::zone zone;
  auto first = decode_request(reinterpret_cast<const uint8_t*>(frame.data()), frame.size(), zone);
  REQUIRE(first.has_value());
  CHECK(first->once);
  CHECK_FALSE(first->retry);
  frame.back() = '\xc3';
  auto again = decode_request(reinterpret_cast<const uint8_t*>(frame.data()), frame.size(), zone);
  REQUIRE(again.has_value());
  CHECK(again->once);
  CHECK(again->retry);
  CHECK(again->rid == 77);
  // "once" must be a boolean: {"v":1,"op":"call","cap":"c","mod":"m","id":"i","once":1}
  const std::string bad =
      "\x86\xa1v\x01\xa2op\xa4call\xa3\x63\x61p\xa1\x63\xa3mod\xa1m\xa2id\xa1i\xa4once\x01";
  CHECK_FALSE(decode(bad, zone).has_value());
}
