// Walking one whole MessagePack object under limits, without building anything: how every
// decoder checks a value before it reads it, and how the host checks that an actor's reply is
// exactly one object.
#pragma once

#include <mesh/wire/msgpack_reader.hpp>

#include <cstddef>
#include <cstdint>

namespace mesh::wire {

struct decode_limits;

/// What walk_object holds an object to.
struct walk_limits {
  size_t max_depth;   ///< nested containers, the object itself counting as 1 if it is one
  size_t max_array;
  size_t max_map;
  size_t max_string;
  bool allow_ext;
};

/// What a value in the envelope's root map is held to: the map itself is one level deep.
walk_limits inside_envelope(const decode_limits& limits) noexcept;

/// The deepest nesting walk_object follows, whatever the limits ask.
inline constexpr size_t max_walk_depth = 64;

/// Reads one whole object, whatever its type, holding it to `lim`. Every container's declared
/// size must also fit in the bytes left (each element takes at least one), so a forged count
/// fails at once. Returns nullptr, or why the object was refused.
const char* walk_object(msgpack_reader& r, const walk_limits& lim) noexcept;

/// Reads `data` as one MessagePack map with string keys, within `max_map` entries, keys of at
/// most `max_string` bytes and values held to `nested`, handing `fn(key, value header)` each
/// entry in turn (a container value: its header; its elements are already walked). False when
/// the bytes are not such a map, have trailing bytes, or `fn` returns false.
template <class Fn>
bool for_each_entry(const uint8_t* data, size_t size, size_t max_map, size_t max_string,
                    const walk_limits& nested, Fn&& fn) {
  using kind = msgpack_reader::kind;
  msgpack_reader r(data, size);
  msgpack_reader::item root, k, v;
  if (!r.next(root) || root.type != kind::map || root.size > max_map) return false;
  for (uint32_t i = 0; i < root.size; ++i) {
    if (!r.next(k) || k.type != kind::str || k.size > max_string) return false;
    const uint8_t* value_at = r.position();
    if (walk_object(r, nested) != nullptr) return false;
    msgpack_reader value(value_at, static_cast<size_t>(r.position() - value_at));
    (void)value.next(v);  // walk_object read this header already
    if (!fn(as_string(k), v)) return false;
  }
  return r.at_end();
}

/// Checks that `data` is exactly one MessagePack object within `max_depth` nesting (at most 64)
/// whose declared container sizes fit in the bytes. Cheap: walks without building anything.
bool is_single_object(const uint8_t* data, size_t size, size_t max_depth = 64) noexcept;

}  // namespace mesh::wire
