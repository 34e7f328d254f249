// Fuzz target: reply envelopes as the client decodes them. Properties, for the default limits and
// tight ones:
//  - decode_reply never crashes, leaks or reads outside the frame;
//  - an accepted reply keeps the whole envelope (a map) for op-specific fields;
//  - an accepted reply re-encoded with the host's encoder for its kind (encode_call_reply,
//    encode_ok, encode_error) decodes to the same rid, outcome, body, actor and error;
//  - the envelope tree it keeps is the one msgpack-c builds from the same bytes;
//  - the overload without a zone (the client's, no tree) accepts and refuses the same frames;
//  - the fields it reads in place (rid, outcome, body, actor, error) are the ones a reader of
//    msgpack-c's tree finds (reference_fields below: an independent reading of PROTOCOL.md).
#include <msgpack.hpp>
#include <string>
#include <tuple>

#include "fuzz_target.hpp"
#include <mesh/wire/envelope.hpp>
#include "wire_limits.hpp"

namespace mesh::fuzz {
namespace {

constexpr const char* k_target = "reply_envelope";

auto actor_fields(const wire::reply& r) {
  return std::make_tuple(r.has_actor, std::string(r.actor.host), std::string(r.actor.module),
                         std::string(r.actor.id.as_string()), r.actor.activation);
}

auto fields(const wire::reply& r) {
  return std::tuple_cat(std::make_tuple(r.rid, r.ok, std::string(r.body.as_string()),
                                        r.error_code, r.error_message, r.owner_hint),
                        actor_fields(r));
}

std::string_view str_of(const msgpack::object& o) { return {o.via.str.ptr, o.via.str.size}; }

/// The reply fields as read from msgpack-c's tree of an accepted envelope: later keys win, a
/// field of the wrong type is ignored, and so are non-string keys inside "actor" and "error".
wire::reply reference_fields(const msgpack::object& root, const wire::decode_limits& limits) {
  using msgpack::type::object_type;
  const auto is = [](const msgpack::object& o, object_type t) { return o.type == t; };
  wire::reply r;
  for (uint32_t i = 0; i < root.via.map.size; ++i) {
    const std::string_view key = str_of(root.via.map.ptr[i].key);
    const msgpack::object& v = root.via.map.ptr[i].val;
    if (key == "rid" && is(v, msgpack::type::POSITIVE_INTEGER)) r.rid = v.via.u64;
    if (key == "ok" && is(v, msgpack::type::BOOLEAN)) r.ok = v.via.boolean;
    if (key == "reply" && is(v, msgpack::type::BIN))
      r.body = {reinterpret_cast<const uint8_t*>(v.via.bin.ptr), v.via.bin.size};
    if (key == "actor" && is(v, msgpack::type::MAP)) {
      r.has_actor = true;
      for (uint32_t j = 0; j < v.via.map.size; ++j) {
        const auto& [ak, av] = v.via.map.ptr[j];
        if (!is(ak, msgpack::type::STR)) continue;
        const bool bytes = is(av, msgpack::type::STR) || is(av, msgpack::type::BIN);
        if (str_of(ak) == "host" && is(av, msgpack::type::STR)) r.actor.host = str_of(av);
        if (str_of(ak) == "mod" && is(av, msgpack::type::STR)) r.actor.module = str_of(av);
        if (str_of(ak) == "id" && bytes && av.via.bin.size <= limits.max_string)
          r.actor.id = {reinterpret_cast<const uint8_t*>(av.via.bin.ptr), av.via.bin.size};
        if (str_of(ak) == "act" && is(av, msgpack::type::POSITIVE_INTEGER))
          r.actor.activation = av.via.u64;
      }
    }
    if (key == "error" && is(v, msgpack::type::MAP)) {
      for (uint32_t j = 0; j < v.via.map.size; ++j) {
        const auto& [ek, ev] = v.via.map.ptr[j];
        if (!is(ek, msgpack::type::STR) || !is(ev, msgpack::type::STR)) continue;
        if (str_of(ek) == "code") r.error_code = std::string(str_of(ev));
        if (str_of(ek) == "msg") r.error_message = std::string(str_of(ev));
        if (str_of(ek) == "owner") r.owner_hint = std::string(str_of(ev));
      }
    }
  }
  return r;
}

void check(const uint8_t* data, size_t size, const wire::decode_limits& limits) {
  msgpack::zone zone;
  auto rep = wire::decode_reply(data, size, zone, limits);
  const auto flat = wire::decode_reply(data, size, limits);
  MESH_FUZZ_CHECK(k_target, flat.has_value() == rep.has_value());
  if (!flat) MESH_FUZZ_CHECK(k_target, !flat.error().message.empty());
  if (!rep) {
    MESH_FUZZ_CHECK(k_target, !rep.error().message.empty());
    return;
  }
  MESH_FUZZ_CHECK(k_target, flat->envelope == nullptr);
  MESH_FUZZ_CHECK(k_target, rep->envelope != nullptr);
  MESH_FUZZ_CHECK(k_target, rep->envelope->type == msgpack::type::MAP);
  {
    msgpack::object_handle reference;
    try {
      reference = msgpack::unpack(reinterpret_cast<const char*>(data), size);
    } catch (const std::exception& e) {
      fail(k_target, std::string("accepted a reply msgpack-c cannot read: ") + e.what());
    }
    msgpack::sbuffer mine, theirs;
    msgpack::pack(mine, *rep->envelope);
    msgpack::pack(theirs, reference.get());
    MESH_FUZZ_CHECK(k_target, std::string_view(mine.data(), mine.size()) ==
                                  std::string_view(theirs.data(), theirs.size()));
    MESH_FUZZ_CHECK(k_target, fields(*flat) == fields(reference_fields(reference.get(), limits)));
  }


  wire::buffer out;
  if (rep->ok && rep->has_actor) {
    wire::encode_call_reply(out, rep->rid, rep->actor, rep->body);
  } else if (rep->ok) {
    wire::encode_ok(out, rep->rid);
  } else if (auto code = wire::error_code_from_string(rep->error_code)) {
    wire::encode_error(out, rep->rid, *code, rep->error_message, rep->owner_hint);
  } else {
    return;  // an error code this version does not know: nothing to encode it with
  }
  msgpack::zone zone2;
  auto again =
      wire::decode_reply(reinterpret_cast<const uint8_t*>(out.data()), out.size(), zone2, limits);
  if (!again)
    fail(k_target, "the host's encoder produced a reply that decode_reply refuses: " +
                       again.error().message);
  MESH_FUZZ_CHECK(k_target, again->rid == rep->rid);
  MESH_FUZZ_CHECK(k_target, again->ok == rep->ok);
  if (rep->ok && rep->has_actor) {
    MESH_FUZZ_CHECK(k_target, again->body.as_string() == rep->body.as_string());
    MESH_FUZZ_CHECK(k_target, actor_fields(*again) == actor_fields(*rep));
  } else if (rep->ok) {
    MESH_FUZZ_CHECK(k_target, !again->has_actor && again->body.empty());
  } else {
    MESH_FUZZ_CHECK(k_target, again->error_code == rep->error_code);
    MESH_FUZZ_CHECK(k_target, again->error_message == rep->error_message);
    MESH_FUZZ_CHECK(k_target, again->owner_hint == rep->owner_hint);
  }
}

}  // namespace

int reply_envelope(const uint8_t* data, size_t size) {
  for (const auto& limits : wire_limits_to_try()) check(data, size, limits);
  return 0;
}

}  // namespace mesh::fuzz
