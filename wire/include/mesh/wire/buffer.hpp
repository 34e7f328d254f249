// Bytes on the wire: a view of a byte range inside a frame, the growable buffer the encoders
// write into, and the packers that write keys, strings and binaries into it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <msgpack.hpp>
#include <string_view>
#include <vector>

namespace mesh::wire {

/// A byte range inside a frame.
struct bytes_view {
  const uint8_t* data = nullptr;
  size_t size = 0;
  bool empty() const noexcept { return size == 0; }
  std::string_view as_string() const noexcept {
    return {reinterpret_cast<const char*>(data), size};
  }
};

/// A growable byte buffer usable as a msgpack-c stream. An encoder writes an envelope in a
/// couple of dozen small pieces, so write() is a bounds check and a memcpy; the storage only
/// grows (doubling) and clear() keeps it for the next envelope.
class buffer {
 public:
  void write(const char* data, size_t size) {
    if (size == 0) return;
    if (size > bytes_.size() - size_) grow(size);
    std::memcpy(bytes_.data() + size_, data, size);
    size_ += size;
  }
  /// Appends `size` bytes for the caller to fill in, and returns where they start.
  char* extend(size_t size) {
    if (size > bytes_.size() - size_) grow(size);
    char* at = bytes_.data() + size_;
    size_ += size;
    return at;
  }
  const char* data() const noexcept { return bytes_.data(); }
  size_t size() const noexcept { return size_; }
  void clear() noexcept { size_ = 0; }

 private:
  void grow(size_t more) { bytes_.resize(std::max(bytes_.size() * 2, std::max<size_t>(256, size_ + more))); }

  std::vector<char> bytes_;  ///< capacity in use; bytes past size_ are scratch
  size_t size_ = 0;
};

/// Packs `s` as a MessagePack str through msgpack-c (replies that are not on the hot path).
template <class Stream>
void pack_string(msgpack::packer<Stream>& pk, std::string_view s) {
  pk.pack_str(static_cast<uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

// The envelopes every call encodes (the request, the call reply, the forward header) write
// their keys and strings with the three helpers below instead: msgpack-c's pack_str and
// pack_str_body check the room twice and call memcpy twice per string, ~60-95 instructions a
// key, and a request has a dozen. The bytes are the same as msgpack-c's (the wire tests
// compare them at every length boundary).

/// Packs a map key known at compile time, a fixstr of 1 to 31 bytes, as one small store.
template <size_t N>
[[gnu::always_inline]] inline void pack_key(buffer& out, const char (&key)[N]) {
  static_assert(N >= 2 && N <= 32, "a key is a fixstr: 1 to 31 bytes");
  char* at = out.extend(N);
  at[0] = static_cast<char>(0xa0 | (N - 1));
  std::memcpy(at + 1, key, N - 1);
}

namespace detail {
/// Writes a str or bin header of the smallest form msgpack-c picks (fixstr only for str),
/// and the body, with one check of the room left.
[[gnu::always_inline]] inline void pack_sized(buffer& out, const void* data, size_t n, bool str) {
  const size_t head = str && n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5;
  auto* at = reinterpret_cast<uint8_t*>(out.extend(head + n));
  const uint8_t base = str ? 0xd9 : 0xc4;  // str8/bin8; 16 and 32 follow
  switch (head) {
    case 1: at[0] = static_cast<uint8_t>(0xa0 | n); break;
    case 2: at[0] = base; at[1] = static_cast<uint8_t>(n); break;
    case 3: at[0] = base + 1; at[1] = static_cast<uint8_t>(n >> 8); at[2] = static_cast<uint8_t>(n); break;
    default:
      at[0] = base + 2;
      for (int i = 0; i < 4; ++i) at[1 + i] = static_cast<uint8_t>(n >> (24 - 8 * i));
  }
  if (n > 0) std::memcpy(at + head, data, n);
}
}  // namespace detail

/// Packs `s` as a str, as msgpack-c would.
inline void pack_str(buffer& out, std::string_view s) {
  detail::pack_sized(out, s.data(), s.size(), true);
}
/// Packs `b` as a bin, as msgpack-c would.
inline void pack_bin(buffer& out, bytes_view b) { detail::pack_sized(out, b.data, b.size, false); }

}  // namespace mesh::wire
