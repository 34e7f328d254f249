#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <msgpack.hpp>
#include <sstream>
#include <string>

#include "../fuzz/msgpack_reference.hpp"
#include <mesh/wire/envelope.hpp>
#include <mesh/wire/object_walk.hpp>
#include <mesh/wire/shard.hpp>

using namespace mesh::wire;

namespace {

tl::expected<request, error> decode(const std::string& bytes) {
  return decode_request(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
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
  auto got = decode(frame);
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

TEST_CASE("an actor's call chain survives the round trip, and chains beyond the limits are refused") {
  const std::string id = "b";
  // Two hops, packed as MessagePack strings without the array header (request::chain).
  const std::string hops = std::string("\xa7Relay/a") + "\xa8RelayW/b";
  request req;
  req.kind = op::call;
  req.rid = 5;
  req.capability = "svc";
  req.module = "Relay";
  req.id = view(id);
  req.chain = view(hops);
  req.chain_len = 2;
  req.once = true;
  const std::string frame = encode(req);
  auto got = decode(frame);
  REQUIRE(got);
  CHECK(got->chain_len == 2);
  CHECK(got->chain.as_string() == hops);
  CHECK(got->once);
  // A cast carries it too; a client's request carries none.
  req.kind = op::cast;
  const std::string cast_frame = encode(req);  // the decoded views point into it
  auto cast = decode(cast_frame);
  REQUIRE(cast);
  CHECK(cast->chain.as_string() == hops);
  req.chain = {};
  req.chain_len = 0;
  const std::string plain_frame = encode(req);
  auto plain = decode(plain_frame);
  REQUIRE(plain);
  CHECK(plain->chain_len == 0);
  CHECK(plain_frame.find("chain") == std::string::npos);

  auto refused = [&](const std::string& chain_hops, uint32_t count) {
    request r = req;
    r.kind = op::call;
    r.chain = view(chain_hops);
    r.chain_len = count;
    auto d = decode(encode(r));
    return d ? std::string("accepted") : d.error().message;
  };
  std::string sixteen, seventeen;
  for (int i = 0; i < 16; ++i) sixteen += "\xa3" "A/1";
  seventeen = sixteen + "\xa3" "A/1";
  CHECK(refused(sixteen, 16) == "accepted");
  CHECK(refused(seventeen, 17).find("more than 16 hops") != std::string::npos);
  CHECK(refused("\x07", 1).find("array of strings") != std::string::npos);
  const std::string long_hop = std::string("\xda\x01\x2c") + std::string(300, 'y');
  CHECK(refused(long_hop, 1).find("longer than 256 bytes") != std::string::npos);
}

TEST_CASE("malformed envelopes are refused with bad_request and a reason") {
  auto code_of = [&](const std::string& bytes) {
    auto r = decode(bytes);
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
  for (std::string bad : {std::string("\x82\xa2op"), std::string("\x01\x02"), std::string("\xc1")}) {
    req.payload = view(bad);
    auto r = decode(encode(req));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == error_code::bad_request);
  }
}

TEST_CASE("error and call replies decode to what was encoded, with and without the tree") {
  for (const bool tree : {true, false}) {
    CAPTURE(tree);
    msgpack::zone zone;
    auto decoded = [&](const buffer& b) {
      const auto* data = reinterpret_cast<const uint8_t*>(b.data());
      return tree ? decode_reply(data, b.size(), zone) : decode_reply(data, b.size());
    };
    buffer b;
    encode_error(b, 9, error_code::wrong_owner, "no module \"X\"", "h:2");
    auto e = decoded(b);
    REQUIRE(e);
    CHECK_FALSE(e->ok);
    CHECK(e->rid == 9);
    CHECK(e->error_code == "wrong_owner");
    CHECK(e->error_message == "no module \"X\"");
    CHECK(e->owner_hint == "h:2");
    CHECK((e->envelope != nullptr) == tree);
    b.clear();
    const std::string reply = "\x81\xa5" "count\x03";
    const std::string id = "c1";
    encode_call_reply(b, 10, actor_ref{"h:1", "Counter", view(id), 5}, view(reply));
    auto ok = decoded(b);
    REQUIRE(ok);
    CHECK(ok->ok);
    CHECK(ok->rid == 10);
    CHECK(ok->body.as_string() == reply);
    CHECK(ok->has_actor);
    CHECK(ok->actor.host == "h:1");
    CHECK(ok->actor.module == "Counter");
    CHECK(ok->actor.id.as_string() == "c1");
    CHECK(ok->actor.activation == 5);
  }
}

TEST_CASE("the hot encoders' keys, strs and bins are the bytes msgpack-c packs") {
  buffer mine;
  pack_key(mine, "timeout_ms");
  CHECK(std::string(mine.data(), mine.size()) == "\xaatimeout_ms");
  for (const size_t n : {size_t{0}, size_t{1}, size_t{31}, size_t{32}, size_t{255}, size_t{256},
                         size_t{65535}, size_t{65536}, size_t{70000}}) {
    CAPTURE(n);
    const std::string s(n, 'q');
    msgpack::sbuffer theirs;
    msgpack::packer<msgpack::sbuffer> pk(theirs);
    pk.pack_str(static_cast<uint32_t>(n));
    pk.pack_str_body(s.data(), static_cast<uint32_t>(n));
    pk.pack_bin(static_cast<uint32_t>(n));
    pk.pack_bin_body(s.data(), static_cast<uint32_t>(n));
    mine.clear();
    pack_str(mine, s);
    pack_bin(mine, view(s));
    CHECK(std::string(mine.data(), mine.size()) == std::string(theirs.data(), theirs.size()));
  }
}

TEST_CASE("every error code has a wire name that parses back") {
  for (int i = 0; i <= static_cast<int>(error_code::wrong_owner); ++i) {
    const auto code = static_cast<error_code>(i);
    CHECK(error_code_from_string(to_string(code)) == code);
  }
  CHECK_FALSE(error_code_from_string("no_such_code").has_value());
}

/// A `once` request to the Counter actor `id` (a literal: the request points at it).
request once_request(op kind, uint64_t rid, std::string_view id) {
  request req;
  req.kind = kind;
  req.rid = rid;
  req.capability = "counter";
  req.module = "Counter";
  req.id = {reinterpret_cast<const uint8_t*>(id.data()), id.size()};
  req.once = true;
  return req;
}

TEST_CASE("once requests end with the retry flag, so a re-send flips one byte") {
  request req = once_request(op::call, 77, "c1");
  buffer out;
  encode_request(out, req);
  std::string frame(out.data(), out.size());
  REQUIRE(static_cast<uint8_t>(frame.back()) == 0xc2);
  auto first = decode_request(reinterpret_cast<const uint8_t*>(frame.data()), frame.size());
  REQUIRE(first.has_value());
  CHECK(first->once);
  CHECK_FALSE(first->retry);
  frame.back() = '\xc3';
  auto again = decode_request(reinterpret_cast<const uint8_t*>(frame.data()), frame.size());
  REQUIRE(again.has_value());
  CHECK(again->once);
  CHECK(again->retry);
  CHECK(again->rid == 77);
  // "once" must be a boolean: {"v":1,"op":"call","cap":"c","mod":"m","id":"i","once":1}
  const std::string bad =
      "\x86\xa1v\x01\xa2op\xa4" "call\xa3\x63\x61p\xa1\x63\xa3mod\xa1m\xa2id\xa1i\xa4once\x01";
  CHECK_FALSE(decode(bad).has_value());
}

TEST_CASE("a once request can be re-addressed to another incarnation in place") {
  request req = once_request(op::cast, 78, "c2");
  req.to_incarnation = 1795748276720;
  buffer out;
  encode_request(out, req);
  std::string frame(out.data(), out.size());
  auto read = [&] {
    auto r = decode_request(reinterpret_cast<const uint8_t*>(frame.data()), frame.size());
    REQUIRE(r.has_value());
    return *r;
  };
  CHECK(read().to_incarnation == 1795748276720);
  for (uint64_t inc : {uint64_t{0}, uint64_t{1}, uint64_t{0x0102030405060708}, UINT64_MAX}) {
    CAPTURE(inc);
    REQUIRE(address_request(frame.data(), frame.size(), inc));
    const request r = read();
    CHECK(r.to_incarnation == inc);
    CHECK(r.rid == 78);
    CHECK(r.once);
    CHECK_FALSE(r.retry);
  }
  frame.back() = '\xc3';  // a re-send, then re-addressed: both survive
  REQUIRE(address_request(frame.data(), frame.size(), 42));
  CHECK(read().retry);
  CHECK(read().to_incarnation == 42);
  // Without once there is no such tail, and nothing is changed.
  req.once = false;
  out.clear();
  encode_request(out, req);
  std::string plain(out.data(), out.size());
  const std::string before = plain;
  CHECK_FALSE(address_request(plain.data(), plain.size(), 7));
  CHECK(plain == before);
  CHECK_FALSE(address_request(plain.data(), 3, 7));
  // "inc" must be an unsigned integer: {"v":1,"op":"cast","cap":"c","mod":"m","id":"i","inc":-1}
  const std::string bad =
      "\x86\xa1v\x01\xa2op\xa4" "cast\xa3\x63\x61p\xa1\x63\xa3mod\xa1m\xa2id\xa1i\xa3inc\xff";
  CHECK_FALSE(decode(bad).has_value());
}

namespace {

bool reference_single_object(const std::string& bytes, size_t max_depth) {
  return mesh::fuzz::reference_single_object(reinterpret_cast<const uint8_t*>(bytes.data()),
                                             bytes.size(), max_depth);
}

/// One of every MessagePack format family, in each of its length forms (`large` picks the 32-bit
/// length forms of str and bin: more than 65,535).
std::string every_type(size_t large = 70000) {
  std::stringstream out;
  msgpack::packer<std::stringstream> pk(out);
  pk.pack_array(26);
  pk.pack_nil();
  pk.pack_true();
  pk.pack_false();
  for (uint64_t u : {uint64_t{5}, uint64_t{200}, uint64_t{60000}, uint64_t{4'000'000'000},
                     uint64_t{1} << 40})
    pk.pack_uint64(u);
  for (int64_t i : {int64_t{-5}, int64_t{-100}, int64_t{-30000}, int64_t{-2'000'000'000},
                    -(int64_t{1} << 40)})
    pk.pack_int64(i);
  pk.pack_fix_int8(-3);  // 0xd0 with a negative value
  pk.pack_float(1.5f);
  pk.pack_double(2.5);
  for (size_t n : {size_t{3}, size_t{40}, size_t{300}, large}) {  // fixstr, str8/16/32
    const std::string s(n, 'x');
    pk.pack_str(static_cast<uint32_t>(n));
    pk.pack_str_body(s.data(), static_cast<uint32_t>(n));
  }
  for (size_t n : {size_t{3}, size_t{300}, large}) {  // bin8/16/32
    const std::string s(n, 'b');
    pk.pack_bin(static_cast<uint32_t>(n));
    pk.pack_bin_body(s.data(), static_cast<uint32_t>(n));
  }
  pk.pack_array(20);  // array16
  for (int i = 0; i < 20; ++i) pk.pack_int(i);
  pk.pack_map(16);    // map16
  for (int i = 0; i < 16; ++i) {
    pk.pack_int(i);
    pk.pack_nil();
  }
  pk.pack_map(0);
  return out.str();
}

std::string every_ext() {
  std::stringstream out;
  msgpack::packer<std::stringstream> pk(out);
  pk.pack_array(8);
  for (size_t n : {size_t{1}, size_t{2}, size_t{4}, size_t{8}, size_t{16}, size_t{3}, size_t{300},
                   size_t{70000}}) {  // fixext1..16, ext8/16/32
    const std::string s(n, 'e');
    pk.pack_ext(n, 7);
    pk.pack_ext_body(s.data(), static_cast<uint32_t>(n));
  }
  return out.str();
}

/// A ping envelope with `value` under a key this version does not know.
std::string ping_with_unknown(const std::string& value) {
  return std::string("\x83\xa1v\x01\xa2op\xa4ping\xa5later") + value;
}

}  // namespace

TEST_CASE("is_single_object agrees with msgpack-c on every type and on mangled bytes") {
  for (const std::string& base : {every_type(), every_ext()}) {
    CHECK(is_single_object(reinterpret_cast<const uint8_t*>(base.data()), base.size()));
    // Every prefix, and every single-byte change of the first 300 bytes, in both walkers.
    for (size_t cut = 0; cut < base.size(); cut += cut < 400 ? 1 : 997) {
      const std::string prefix = base.substr(0, cut);
      CHECK(is_single_object(reinterpret_cast<const uint8_t*>(prefix.data()), prefix.size()) ==
            reference_single_object(prefix, 64));
    }
    for (size_t at = 0; at < std::min<size_t>(base.size(), 300); ++at)
      for (int delta : {1, 0x10, 0x80, 0xff}) {
        std::string mangled = base;
        mangled[at] = static_cast<char>(static_cast<uint8_t>(mangled[at]) + delta);
        for (size_t depth : {size_t{1}, size_t{2}, size_t{64}}) {
          INFO("offset " << at << " delta " << delta << " depth " << depth);
          CHECK(is_single_object(reinterpret_cast<const uint8_t*>(mangled.data()), mangled.size(),
                                 depth) == reference_single_object(mangled, depth));
        }
      }
  }
  // Nesting: exactly at the limit passes, one deeper fails.
  const std::string nest8 = std::string(8, '\x91') + "\xc0";
  CHECK(is_single_object(reinterpret_cast<const uint8_t*>(nest8.data()), nest8.size(), 8));
  CHECK_FALSE(is_single_object(reinterpret_cast<const uint8_t*>(nest8.data()), nest8.size(), 7));
  // Two objects, or one with bytes left over, are not one object.
  CHECK_FALSE(is_single_object(reinterpret_cast<const uint8_t*>("\x01\x02"), 2));
}

TEST_CASE("unknown envelope keys are skipped whatever they hold, within the decode limits") {
  auto ok = [](const std::string& value) { return decode(ping_with_unknown(value)).has_value(); };
  CHECK(ok(every_type(64 * 1024)));                       // the longest string allowed
  CHECK_FALSE(ok(every_type(64 * 1024 + 1)));
  CHECK(ok("\xc0"));
  CHECK_FALSE(ok(every_ext()));                           // ext is never part of an envelope
  CHECK_FALSE(ok(""));                                    // the value is missing
  CHECK_FALSE(ok(every_type().substr(0, 100)));           // cut short
  CHECK_FALSE(ok(std::string(8, '\x91') + "\xc0"));       // root + 8 = 9 levels: too deep
  CHECK(ok(std::string(7, '\x91') + "\xc0"));             // 8 levels: the limit
  CHECK_FALSE(ok(std::string("\xdc\x04\x01", 3) + std::string(1025, '\x01')));  // 1025 > max_array
  // A key that is not a string, and trailing bytes after the envelope.
  CHECK_FALSE(decode(std::string("\x83\xa1v\x01\xa2op\xa4ping\x01\x01")).has_value());
  CHECK_FALSE(decode(ping_with_unknown("\x01") + "\x01").has_value());
  // A known key with a container where a scalar belongs.
  const auto r = decode(std::string("\x83\xa1v\x01\xa2op\xa4ping\xa3rid\x91\x01"));
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("rid") != std::string::npos);
}

namespace {

tl::expected<reply, error> decode_reply_of(const std::string& bytes, msgpack::zone& zone,
                                           const decode_limits& limits = {}) {
  return decode_reply(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), zone, limits);
}

std::string packed(const msgpack::object& o) {
  msgpack::sbuffer sb;
  msgpack::pack(sb, o);
  return std::string(sb.data(), sb.size());
}

}  // namespace

TEST_CASE("a reply envelope of every MessagePack type decodes to the tree msgpack-c builds") {
  msgpack::sbuffer sb;
  msgpack::packer<msgpack::sbuffer> pk(sb);
  pk.pack_map(5);
  pk.pack(std::string("ok"));
  pk.pack_true();
  pk.pack(std::string("rid"));
  pk.pack_uint64(uint64_t{1} << 40);
  pk.pack(std::string("ints"));
  pk.pack_array(10);
  pk.pack_fix_int8(-3);
  pk.pack_int8(-100);
  pk.pack_int16(-30000);
  pk.pack_int32(-2'000'000'000);
  pk.pack_int64(INT64_MIN);
  pk.pack_int64(5);  // a signed encoding of a non-negative value: a positive integer
  pk.pack_uint8(200);
  pk.pack_uint16(60000);
  pk.pack_uint32(4'000'000'000u);
  pk.pack_uint64(UINT64_MAX);
  pk.pack(std::string("more"));
  pk.pack_array(6);
  pk.pack_nil();
  pk.pack_false();
  pk.pack_float(1.5f);
  pk.pack_double(-2.25);
  pk.pack(std::string(300, 's'));  // str16
  pk.pack_bin(3);
  pk.pack_bin_body("\x00\x01\x02", 3);
  pk.pack(std::string("nested"));
  pk.pack_map(1);
  pk.pack(std::string("a"));
  pk.pack_array(1);
  pk.pack_map(0);
  const std::string bytes(sb.data(), sb.size());

  msgpack::zone zone;
  auto r = decode_reply_of(bytes, zone);
  REQUIRE(r);
  CHECK(r->ok);
  CHECK(r->rid == uint64_t{1} << 40);
  REQUIRE(r->envelope != nullptr);
  const auto expected = msgpack::unpack(bytes.data(), bytes.size());
  CHECK(packed(*r->envelope) == packed(expected.get()));
  const auto& ints = r->envelope->via.map.ptr[2].val.via.array;
  CHECK(ints.ptr[0].type == msgpack::type::NEGATIVE_INTEGER);
  CHECK(ints.ptr[5].type == msgpack::type::POSITIVE_INTEGER);
  CHECK(r->envelope->via.map.ptr[3].val.via.array.ptr[2].type == msgpack::type::FLOAT32);
}

TEST_CASE("a reply envelope beyond a decode limit or not well formed is refused with a reason") {
  msgpack::zone zone;
  const std::string ok_map = "\x81\xa2ok\xc3";
  REQUIRE(decode_reply_of(ok_map, zone));
  decode_limits tight;
  tight.max_string = 4;
  tight.max_depth = 2;
  tight.max_map = 3;
  tight.max_array = 2;
  const std::vector<std::string> refused = {
      "",                                       // empty
      "\x91\xc3",                               // not a map
      ok_map + "\xc0",                          // trailing bytes
      "\x81\xa2ok",                             // truncated
      "\x82\xa2ok\xc3\xa1x\xdb\xff\xff\xff\xff",  // a str claiming 4 GiB
      "\x82\xa2ok\xc3\xa1x\xd4\x01\x02",        // ext
      "\x82\xa2ok\xc3\xa1x\xc1",                // never-used byte
      "\x82\xa2ok\xc3\xa1x\xa5hello",           // str longer than max_string
      "\x82\xa2ok\xc3\xa1x\x81\xa1y\x91\xc0",   // three levels deep, max_depth 2
      "\x82\xa2ok\xc3\xa1x\x93\xc0\xc0\xc0",    // array longer than max_array
      "\x84\xa2ok\xc3\xa1x\xc0\xa1y\xc0\xa1z\xc0",  // map larger than max_map
  };
  for (const auto& bytes : refused) {
    CAPTURE(bytes);
    auto r = decode_reply_of(bytes, zone, tight);
    CHECK_FALSE(r);
    if (!r) CHECK_FALSE(r.error().message.empty());
    auto flat = decode_reply(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), tight);
    CHECK_FALSE(flat);
    if (!flat) CHECK_FALSE(flat.error().message.empty());
  }
  CHECK(decode_reply_of("\x82\xa2ok\xc3\xa1x\x81\xa1y\xc0", zone, tight));  // two levels: fine
}
