// A forward-only MessagePack reader over one frame: reads one header at a time and hands out
// views into the frame. It allocates nothing and builds no object tree.
//
// Why not msgpack-c's unpack: the host decodes every request envelope and checks every payload
// and reply. msgpack-c builds an object tree in a zone and keeps its parse stack in a
// std::vector (a malloc per parse); callgrind measured decode_request at 40 % of the request
// thread's instructions with it. The envelope is a flat map of scalars, so a header reader is
// all the decoder needs. msgpack-c stays the encoder, and the reference the fuzz targets check
// this reader against (tests/fuzz/request_envelope.cpp).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace mesh::wire {

class msgpack_reader {
 public:
  enum class kind : uint8_t { nil, boolean, uint, sint, float32, float64, str, bin, ext, array, map };

  /// One header, with the scalar it carries. str/bin/ext: `bytes`/`size` are the body, already
  /// skipped. array/map: `size` is the element (pair) count; the elements follow.
  struct item {
    kind type = kind::nil;
    bool boolean = false;
    uint64_t uint = 0;  ///< uint
    int64_t sint = 0;   ///< sint (negative values only; non-negative ones are uint)
    double real = 0;    ///< float32, float64
    const uint8_t* bytes = nullptr;
    uint32_t size = 0;
  };

  msgpack_reader(const uint8_t* data, size_t size) noexcept : p_(data), end_(data + size) {}

  size_t remaining() const noexcept { return static_cast<size_t>(end_ - p_); }
  /// Where the next header starts.
  const uint8_t* position() const noexcept { return p_; }
  bool at_end() const noexcept { return p_ == end_; }

  /// Reads the next header (and a str/bin/ext body, or a scalar). False when the bytes end
  /// before it does or the byte is 0xc1 (never used); the reader is then not to be used again.
  bool next(item& out) noexcept {
    if (p_ == end_) return false;
    const uint8_t tag = *p_;
    // Envelope keys and most of their values: fixstr and positive fixint, read in line.
    if ((tag & 0xe0) == 0xa0) return ++p_, body(out, kind::str, tag & 0x1f);
    if (tag <= 0x7f) return ++p_, scalar_uint(out, tag);
    return next_other(out);
  }

 private:
  bool next_other(item& out) noexcept {
    const uint8_t tag = *p_++;
    if (tag >= 0xe0) {
      out.type = kind::sint;
      out.sint = static_cast<int8_t>(tag);
      return true;
    }
    if ((tag & 0xf0) == 0x80) return container(out, kind::map, tag & 0x0f);
    if ((tag & 0xf0) == 0x90) return container(out, kind::array, tag & 0x0f);
    switch (tag) {
      case 0xc0: out.type = kind::nil; return true;
      case 0xc2: case 0xc3: out.type = kind::boolean; out.boolean = tag == 0xc3; return true;
      case 0xc4: return sized_body(out, kind::bin, 1);
      case 0xc5: return sized_body(out, kind::bin, 2);
      case 0xc6: return sized_body(out, kind::bin, 4);
      case 0xc7: return ext(out, 1);
      case 0xc8: return ext(out, 2);
      case 0xc9: return ext(out, 4);
      case 0xca: {
        uint64_t bits = 0;
        if (!load(bits, 4)) return false;
        const auto narrow = static_cast<uint32_t>(bits);
        float f;
        std::memcpy(&f, &narrow, sizeof f);
        out.type = kind::float32;
        out.real = f;
        return true;
      }
      case 0xcb: {
        uint64_t bits = 0;
        if (!load(bits, 8)) return false;
        std::memcpy(&out.real, &bits, sizeof out.real);
        out.type = kind::float64;
        return true;
      }
      case 0xcc: case 0xcd: case 0xce: case 0xcf: {
        uint64_t v = 0;
        return load(v, size_t{1} << (tag - 0xcc)) && scalar_uint(out, v);
      }
      case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        const size_t n = size_t{1} << (tag - 0xd0);
        uint64_t v = 0;
        if (!load(v, n)) return false;
        // Sign-extend from n bytes. A non-negative signed int is an unsigned one to a reader.
        const int64_t s = n == 8 ? static_cast<int64_t>(v)
                                 : static_cast<int64_t>(v << (64 - 8 * n)) >> (64 - 8 * n);
        if (s >= 0) return scalar_uint(out, static_cast<uint64_t>(s));
        out.type = kind::sint;
        out.sint = s;
        return true;
      }
      case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        out.type = kind::ext;
        return skip(1) && body(out, kind::ext, uint32_t{1} << (tag - 0xd4));  // type, data
      case 0xd9: return sized_body(out, kind::str, 1);
      case 0xda: return sized_body(out, kind::str, 2);
      case 0xdb: return sized_body(out, kind::str, 4);
      case 0xdc: { uint64_t n = 0; return load(n, 2) && container(out, kind::array, n); }
      case 0xdd: { uint64_t n = 0; return load(n, 4) && container(out, kind::array, n); }
      case 0xde: { uint64_t n = 0; return load(n, 2) && container(out, kind::map, n); }
      case 0xdf: { uint64_t n = 0; return load(n, 4) && container(out, kind::map, n); }
      default: return false;  // 0xc1
    }
  }

  static bool scalar_uint(item& out, uint64_t v) noexcept {
    out.type = kind::uint;
    out.uint = v;
    return true;
  }
  static bool container(item& out, kind type, uint64_t n) noexcept {
    out.type = type;
    out.size = static_cast<uint32_t>(n);
    return true;
  }
  bool skip(size_t n) noexcept {
    if (n > remaining()) return false;
    p_ += n;
    return true;
  }
  /// Big-endian unsigned of n (1, 2, 4 or 8) bytes: one load and a byte swap each (a byte
  /// loop cost ~35 instructions for the 8-byte ints every `once` request carries).
  bool load(uint64_t& v, size_t n) noexcept {
    if (n > remaining()) return false;
    switch (n) {
      case 1: v = *p_; break;
      case 2: v = big_endian<uint16_t>(); break;
      case 4: v = big_endian<uint32_t>(); break;
      default: v = big_endian<uint64_t>(); break;
    }
    p_ += n;
    return true;
  }
  template <class T>
  T big_endian() const noexcept {
    T v;
    std::memcpy(&v, p_, sizeof v);
    if constexpr (std::endian::native == std::endian::little) {
      if constexpr (sizeof v == 2) v = __builtin_bswap16(v);
      if constexpr (sizeof v == 4) v = __builtin_bswap32(v);
      if constexpr (sizeof v == 8) v = __builtin_bswap64(v);
    }
    return v;
  }
  bool body(item& out, kind type, uint64_t n) noexcept {
    if (n > remaining()) return false;
    out.type = type;
    out.bytes = p_;
    out.size = static_cast<uint32_t>(n);
    p_ += n;
    return true;
  }
  bool sized_body(item& out, kind type, size_t length_bytes) noexcept {
    uint64_t n = 0;
    return load(n, length_bytes) && body(out, type, n);
  }
  bool ext(item& out, size_t length_bytes) noexcept {
    uint64_t n = 0;
    return load(n, length_bytes) && skip(1) && body(out, kind::ext, n);  // length, type, data
  }

  const uint8_t* p_;
  const uint8_t* end_;
};

/// The body of a str, bin or ext item as characters.
inline std::string_view as_string(const msgpack_reader::item& it) noexcept {
  return {reinterpret_cast<const char*>(it.bytes), it.size};
}

}  // namespace mesh::wire
