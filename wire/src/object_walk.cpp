#include <mesh/wire/object_walk.hpp>

#include <mesh/wire/envelope.hpp>

#include <algorithm>

namespace mesh::wire {

/// What a value in the envelope's root map is held to: the map itself is one level deep.
walk_limits inside_envelope(const decode_limits& limits) noexcept {
  return {limits.max_depth > 0 ? limits.max_depth - 1 : 0, limits.max_array, limits.max_map,
          limits.max_string, false};
}

/// Reads one whole object, whatever its type, holding it to `lim`. Every container's declared
/// size must also fit in the bytes left (each element takes at least one), so a forged count
/// fails at once. Returns nullptr, or why the object was refused.
const char* walk_object(msgpack_reader& r, const walk_limits& lim) noexcept {
  using kind = msgpack_reader::kind;
  const size_t max_depth = std::min(lim.max_depth, max_walk_depth);
  uint64_t outer_left[max_walk_depth];  // elements left in each enclosing container
  size_t depth = 0;
  uint64_t left = 1;  // elements left at this level
  msgpack_reader::item it;
  for (;;) {
    if (!r.next(it)) return "envelope is not valid MessagePack";
    --left;
    if (it.type == kind::str && it.size > lim.max_string)
      return "envelope exceeds a decode limit: str size";
    if (it.type == kind::ext && !lim.allow_ext) return "envelope exceeds a decode limit: ext size";
    if (it.type == kind::array || it.type == kind::map) {
      const bool map = it.type == kind::map;
      if (depth + 1 > max_depth) return "envelope exceeds a decode limit: depth";
      if (it.size > (map ? lim.max_map : lim.max_array))
        return map ? "envelope exceeds a decode limit: map size"
                   : "envelope exceeds a decode limit: array size";
      const uint64_t elements = map ? uint64_t{2} * it.size : it.size;
      if (elements > r.remaining()) return "envelope is not valid MessagePack";
      if (elements > 0) {
        outer_left[depth++] = left;
        left = elements;
      }
    }
    while (left == 0) {
      if (depth == 0) return nullptr;
      left = outer_left[--depth];
    }
  }
}

bool is_single_object(const uint8_t* data, size_t size, size_t max_depth) noexcept {
  msgpack_reader r(data, size);
  const walk_limits any{max_depth, SIZE_MAX, SIZE_MAX, SIZE_MAX, true};
  return walk_object(r, any) == nullptr && r.at_end();
}

}  // namespace mesh::wire
