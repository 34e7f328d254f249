// The request envelope's edge cases exactly as docs/PROTOCOL.md states them: which rid a refusal
// carries, integer encodings, ranges checked on every op, ext values, cursor types and empty
// payloads. Each case was found by a client written from the document alone.
#include <doctest/doctest.h>

#include <cstdint>
#include <msgpack.hpp>
#include <optional>
#include <sstream>
#include <string>

#include <mesh/wire/envelope.hpp>

using namespace mesh::wire;

namespace {

/// A request map packed by `fill`, which gets the packer and adds `entries` key/value pairs.
template <class Fill>
std::string envelope(uint32_t entries, Fill fill) {
  std::stringstream out;
  msgpack::packer<std::stringstream> pk(out);
  pk.pack_map(entries);
  fill(pk);
  return out.str();
}

/// The bytes of a literal, embedded NULs included.
template <size_t N>
std::string bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

void key(msgpack::packer<std::stringstream>& pk, const std::string& k) { pk.pack(k); }

tl::expected<request, error> decode(const std::string& bytes) {
  return decode_request(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

std::optional<uint64_t> rid_of(const std::string& bytes) {
  return read_rid(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

/// {"v":1,"op":"ping","rid":rid} plus `extra` more pairs packed by `more`.
template <class More>
std::string ping(uint64_t rid, uint32_t extra, More more) {
  return envelope(3 + extra, [&](auto& pk) {
    key(pk, "v"), pk.pack(1);
    key(pk, "op"), pk.pack(std::string("ping"));
    key(pk, "rid"), pk.pack_uint64(rid);
    more(pk);
  });
}

}  // namespace

TEST_CASE("a refused envelope whose rid can be read gives that rid back") {
  // limit 0 is out of range: refused, but the map and its rid are readable.
  const std::string limit0 = envelope(4, [](auto& pk) {
    key(pk, "v"), pk.pack(1);
    key(pk, "op"), pk.pack(std::string("actors"));
    key(pk, "limit"), pk.pack(0);
    key(pk, "rid"), pk.pack(77);  // after the bad field: the decoder stopped before it
  });
  CHECK_FALSE(decode(limit0).has_value());
  CHECK(rid_of(limit0) == std::optional<uint64_t>(77));
  // An unknown op and an unsupported version are refusals of a readable envelope too.
  const std::string unknown_op = envelope(3, [](auto& pk) {
    key(pk, "v"), pk.pack(1);
    key(pk, "op"), pk.pack(std::string("fly"));
    key(pk, "rid"), pk.pack(9);
  });
  REQUIRE_FALSE(decode(unknown_op).has_value());
  CHECK(decode(unknown_op).error().code == error_code::unknown_op);
  CHECK(rid_of(unknown_op) == std::optional<uint64_t>(9));
  const std::string v2 = envelope(3, [](auto& pk) {
    key(pk, "v"), pk.pack(2);
    key(pk, "op"), pk.pack(std::string("ping"));
    key(pk, "rid"), pk.pack(10);
  });
  CHECK(decode(v2).error().code == error_code::unsupported_version);
  CHECK(rid_of(v2) == std::optional<uint64_t>(10));
}

TEST_CASE("an envelope that cannot be read, or whose rid is not a uint, gives rid 0") {
  CHECK_FALSE(rid_of("").has_value());
  CHECK_FALSE(rid_of("\x93\x01\x02\x03").has_value());  // an array, not a map
  const std::string whole = ping(5, 0, [](auto&) {});
  CHECK(rid_of(whole) == std::optional<uint64_t>(5));
  CHECK_FALSE(rid_of(whole.substr(0, whole.size() - 1)).has_value());  // truncated
  CHECK_FALSE(rid_of(whole + '\xc0').has_value());                      // trailing bytes
  const std::string str_rid = envelope(1, [](auto& pk) { key(pk, "rid"), pk.pack(std::string("5")); });
  CHECK_FALSE(rid_of(str_rid).has_value());
  const std::string negative = envelope(1, [](auto& pk) { key(pk, "rid"), pk.pack(-5); });
  CHECK_FALSE(rid_of(negative).has_value());
}

TEST_CASE("a uint field takes any integer encoding of a non-negative value, and no negative one") {
  // rid 5 as int 8 (0xd0 0x05): a signed format holding a non-negative value.
  const std::string int8_rid = bytes("\x83\xa1v\x01\xa2op\xa4ping\xa3rid\xd0\x05");
  auto r = decode(int8_rid);
  REQUIRE(r.has_value());
  CHECK(r->rid == 5);
  // v 1 as int 64.
  const std::string int64_v = bytes("\x82\xa1v\xd3\0\0\0\0\0\0\0\x01\xa2op\xa4ping");
  CHECK(decode(int64_v).has_value());
  // rid -1 (0xff, a negative fixint) is refused.
  const std::string neg_rid = bytes("\x83\xa1v\x01\xa2op\xa4ping\xa3rid\xff");
  REQUIRE_FALSE(decode(neg_rid).has_value());
  CHECK(decode(neg_rid).error().code == error_code::bad_request);
}

TEST_CASE("timeout_ms and limit are range-checked on every op, not only where they are used") {
  auto zero_timeout = ping(1, 1, [](auto& pk) { key(pk, "timeout_ms"), pk.pack(0); });
  REQUIRE_FALSE(decode(zero_timeout).has_value());
  CHECK(decode(zero_timeout).error().code == error_code::bad_request);
  auto big_limit = ping(1, 1, [](auto& pk) { key(pk, "limit"), pk.pack(max_actors_limit + 1); });
  CHECK_FALSE(decode(big_limit).has_value());
  auto fine = ping(1, 2, [](auto& pk) {
    key(pk, "timeout_ms"), pk.pack(max_timeout_ms);
    key(pk, "limit"), pk.pack(max_actors_limit);
  });
  CHECK(decode(fine).has_value());
}

TEST_CASE("an ext value anywhere in the envelope is refused, even one of length 0") {
  // {"zz": an ext of length 0, type 1} under a key this version does not know.
  auto empty_ext = ping(1, 1, [](auto& pk) {
    key(pk, "zz");
    pk.pack_ext(0, 1);
  });
  REQUIRE_FALSE(decode(empty_ext).has_value());
  CHECK(decode(empty_ext).error().code == error_code::bad_request);
  // Inside a payload bin an ext is the actor's business and passes.
  std::stringstream inner;
  msgpack::packer<std::stringstream>(inner).pack_ext(0, 1);
  const std::string ext_payload = inner.str();
  auto in_payload = envelope(6, [&](auto& pk) {
    key(pk, "v"), pk.pack(1);
    key(pk, "op"), pk.pack(std::string("call"));
    key(pk, "cap"), pk.pack(std::string("c"));
    key(pk, "mod"), pk.pack(std::string("m"));
    key(pk, "id"), pk.pack(std::string("i"));
    key(pk, "payload"), pk.pack_bin(static_cast<uint32_t>(ext_payload.size())),
        pk.pack_bin_body(ext_payload.data(), static_cast<uint32_t>(ext_payload.size()));
  });
  CHECK(decode(in_payload).has_value());
}

TEST_CASE("an actors cursor may be bin, str or nil, and nothing else") {
  auto with_after = [](auto pack_after) {
    return envelope(4, [&](auto& pk) {
      key(pk, "v"), pk.pack(1);
      key(pk, "op"), pk.pack(std::string("actors"));
      key(pk, "rid"), pk.pack(3);
      key(pk, "after");
      pack_after(pk);
    });
  };
  // The decoded views point into the frame: keep each frame alive while its request is read.
  const std::string bin_frame = with_after([](auto& pk) { pk.pack_bin(2), pk.pack_bin_body("ab", 2); });
  auto bin = decode(bin_frame);
  REQUIRE(bin.has_value());
  CHECK(bin->after.as_string() == "ab");
  const std::string str_frame = with_after([](auto& pk) { pk.pack(std::string("ab")); });
  auto str = decode(str_frame);
  REQUIRE(str.has_value());
  CHECK(str->after.as_string() == "ab");
  const std::string nil_frame = with_after([](auto& pk) { pk.pack_nil(); });
  auto nil = decode(nil_frame);
  REQUIRE(nil.has_value());
  CHECK(nil->after.empty());
  CHECK_FALSE(decode(with_after([](auto& pk) { pk.pack(12); })).has_value());
}

TEST_CASE("an empty payload bin is the value nil, like a missing payload") {
  auto call = [](bool with_empty_payload) {
    return envelope(with_empty_payload ? 6 : 5, [&](auto& pk) {
      key(pk, "v"), pk.pack(1);
      key(pk, "op"), pk.pack(std::string("call"));
      key(pk, "cap"), pk.pack(std::string("c"));
      key(pk, "mod"), pk.pack(std::string("m"));
      key(pk, "id"), pk.pack(std::string("i"));
      if (with_empty_payload) key(pk, "payload"), pk.pack_bin(0);
    });
  };
  const std::string empty_frame = call(true), missing_frame = call(false);
  auto empty = decode(empty_frame);
  REQUIRE(empty.has_value());
  CHECK(empty->payload.empty());
  auto missing = decode(missing_frame);
  REQUIRE(missing.has_value());
  CHECK(missing->payload.empty());
}
