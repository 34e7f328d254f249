#include <mesh/wire/envelope.hpp>

#include <mesh/wire/msgpack_reader.hpp>
#include <mesh/wire/object_walk.hpp>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <utility>

namespace mesh::wire {
namespace {

tl::unexpected<error> bad(std::string message) {
  return tl::unexpected(error{error_code::bad_request, std::move(message)});
}

bytes_view as_bytes(const msgpack_reader::item& it) { return {it.bytes, it.size}; }

/// The envelope keys decode_request reads.
enum class field : uint8_t {
  unknown, v, op, rid, cap, mod, id, payload, init, once, retry, inc, timeout_ms, limit, after,
  caps, chain
};

field field_of(std::string_view key) {
  switch (key.size()) {
    case 1: return key == "v" ? field::v : field::unknown;
    case 2: return key == "op" ? field::op : key == "id" ? field::id : field::unknown;
    case 3:
      return key == "rid" ? field::rid : key == "cap" ? field::cap
           : key == "mod" ? field::mod : key == "inc" ? field::inc : field::unknown;
    case 4:
      return key == "init" ? field::init : key == "once" ? field::once
           : key == "caps" ? field::caps : field::unknown;
    case 5:
      return key == "retry" ? field::retry : key == "limit" ? field::limit
           : key == "after" ? field::after : key == "chain" ? field::chain : field::unknown;
    case 7: return key == "payload" ? field::payload : field::unknown;
    case 10: return key == "timeout_ms" ? field::timeout_ms : field::unknown;
    default: return field::unknown;
  }
}

}  // namespace

tl::expected<request, error> decode_request(const uint8_t* data, size_t size,
                                            const decode_limits& limits) {
  using kind = msgpack_reader::kind;
  if (size == 0) return bad("empty frame");
  msgpack_reader r(data, size);
  msgpack_reader::item root, k, v;
  if (!r.next(root)) return bad("envelope is not valid MessagePack");
  if (root.type != kind::map) return bad("envelope must be a map");
  if (root.size > limits.max_map) return bad("envelope exceeds a decode limit: map size");
  const walk_limits nested = inside_envelope(limits);
  request req;
  bool have_version = false, have_op = false;
  for (uint32_t i = 0; i < root.size; ++i) {
    if (!r.next(k)) return bad("envelope is not valid MessagePack");
    if (k.type != kind::str) return bad("envelope keys must be strings");
    if (k.size > limits.max_string) return bad("envelope exceeds a decode limit: str size");
    const std::string_view key = as_string(k);
    const field f = field_of(key);
    // Values of keys this version does not read are walked whole (later minor versions may
    // add fields); the known ones are single headers.
    if (f == field::unknown) {
      if (const char* why = walk_object(r, nested)) return bad(why);
      continue;
    }
    if (!r.next(v)) return bad("envelope is not valid MessagePack");
    if ((v.type == kind::array || v.type == kind::map) && f != field::caps && f != field::chain)
      return bad("\"" + std::string(key) + "\" must not be an array or a map");
    if (v.type == kind::str && v.size > limits.max_string)
      return bad("envelope exceeds a decode limit: str size");
    if (v.type == kind::ext) return bad("envelope exceeds a decode limit: ext size");
    if (f == field::v) {
      if (v.type != kind::uint) return bad("\"v\" must be an unsigned integer");
      if (v.uint != protocol_version)
        return tl::unexpected(error{error_code::unsupported_version,
                                    "protocol version " + std::to_string(v.uint) +
                                        " is not supported (this host speaks " +
                                        std::to_string(protocol_version) + ")"});
      have_version = true;
    } else if (f == field::op) {
      if (v.type != kind::str) return bad("\"op\" must be a string");
      const std::string_view name = as_string(v);
      const std::optional<op> kind_named = op_from_string(name);
      if (!kind_named)
        return tl::unexpected(
            error{error_code::unknown_op, "unknown op \"" + std::string(name) + "\""});
      req.kind = *kind_named;
      have_op = true;
    } else if (f == field::rid) {
      if (v.type != kind::uint) return bad("\"rid\" must be an unsigned integer");
      req.rid = v.uint;
    } else if (f == field::cap) {
      if (v.type != kind::str) return bad("\"cap\" must be a string");
      req.capability = as_string(v);
    } else if (f == field::mod) {
      if (v.type != kind::str) return bad("\"mod\" must be a string");
      req.module = as_string(v);
    } else if (f == field::id) {
      if (v.type != kind::str && v.type != kind::bin) return bad("\"id\" must be a string or binary");
      req.id = as_bytes(v);
      // A bin id is held to the string limit too: it goes back to clients as a str.
      if (req.id.size > limits.max_string)
        return bad("\"id\" is longer than " + std::to_string(limits.max_string) + " bytes");
    } else if (f == field::payload) {
      if (v.type == kind::nil) continue;
      if (v.type != kind::bin) return bad("\"payload\" must be binary (one encoded MessagePack object)");
      req.payload = as_bytes(v);
    } else if (f == field::init) {
      if (v.type == kind::nil) continue;
      if (v.type != kind::bin) return bad("\"init\" must be binary (one encoded MessagePack object)");
      req.init_arg = as_bytes(v);
    } else if (f == field::once) {
      if (v.type != kind::boolean) return bad("\"once\" must be a boolean");
      req.once = v.boolean;
    } else if (f == field::retry) {
      if (v.type != kind::boolean) return bad("\"retry\" must be a boolean");
      req.retry = v.boolean;
    } else if (f == field::inc) {
      if (v.type != kind::uint) return bad("\"inc\" must be an unsigned integer");
      req.to_incarnation = v.uint;
    } else if (f == field::timeout_ms) {
      if (v.type != kind::uint || v.uint == 0 || v.uint > max_timeout_ms)
        return bad("\"timeout_ms\" must be an integer from 1 to " + std::to_string(max_timeout_ms));
      req.timeout_ms = static_cast<uint32_t>(v.uint);
    } else if (f == field::limit) {
      if (v.type != kind::uint || v.uint == 0 || v.uint > max_actors_limit)
        return bad("\"limit\" must be an integer from 1 to " + std::to_string(max_actors_limit));
      req.limit = static_cast<uint32_t>(v.uint);
    } else if (f == field::after) {
      if (v.type == kind::nil) continue;
      if (v.type != kind::str && v.type != kind::bin)
        return bad("\"after\" must be a string or binary (a cursor)");
      req.after = as_bytes(v);
    } else if (f == field::chain) {
      if (v.type != kind::array) return bad("\"chain\" must be an array of strings");
      if (nested.max_depth == 0) return bad("envelope exceeds a decode limit: depth");
      if (v.size > max_call_chain)
        return bad("\"chain\" has more than " + std::to_string(max_call_chain) + " hops");
      const uint8_t* first = r.position();
      for (uint32_t j = 0; j < v.size; ++j) {
        msgpack_reader::item c;
        if (!r.next(c)) return bad("envelope is not valid MessagePack");
        if (c.type != kind::str) return bad("\"chain\" must be an array of strings");
        if (c.size > max_chain_hop)
          return bad("a \"chain\" hop is longer than " + std::to_string(max_chain_hop) + " bytes");
      }
      req.chain = bytes_view{first, static_cast<size_t>(r.position() - first)};
      req.chain_len = v.size;
    } else if (f == field::caps) {
      if (v.type != kind::array) return bad("\"caps\" must be an array of strings");
      if (nested.max_depth == 0) return bad("envelope exceeds a decode limit: depth");
      if (v.size > limits.max_array) return bad("envelope exceeds a decode limit: array size");
      if (v.size > r.remaining()) return bad("envelope is not valid MessagePack");
      req.capabilities.clear();
      req.capabilities.reserve(v.size);
      for (uint32_t j = 0; j < v.size; ++j) {
        msgpack_reader::item c;
        if (!r.next(c)) return bad("envelope is not valid MessagePack");
        if (c.type != kind::str) return bad("\"caps\" must be an array of strings");
        if (c.size > limits.max_string) return bad("envelope exceeds a decode limit: str size");
        req.capabilities.push_back(as_string(c));
      }
    }
  }
  if (!r.at_end()) return bad("envelope has trailing bytes after the map");
  if (!have_version) return bad("missing \"v\" (protocol version)");
  if (!have_op) return bad("missing \"op\"");
  switch (req.kind) {
    case op::call:
    case op::cast:
      if (req.capability.empty()) return bad("missing \"cap\" (capability)");
      if (req.module.empty()) return bad("missing \"mod\" (module)");
      if (req.id.empty()) return bad("missing \"id\" (actor id)");
      if (!req.payload.empty() && !is_single_object(req.payload.data, req.payload.size))
        return bad("\"payload\" is not exactly one well-formed MessagePack object");
      if (!req.init_arg.empty() && !is_single_object(req.init_arg.data, req.init_arg.size))
        return bad("\"init\" is not exactly one well-formed MessagePack object");
      break;
    case op::shard:
      if (req.id.empty()) return bad("missing \"id\" (actor id)");
      break;
    case op::nodes_for:
      if (req.capability.empty()) return bad("missing \"cap\" (capability)");
      break;
    case op::owner:
      if (req.capability.empty()) return bad("missing \"cap\" (capability)");
      if (req.id.empty()) return bad("missing \"id\" (actor id)");
      break;
    case op::register_capabilities:
      if (req.capabilities.empty()) return bad("missing \"caps\" (capabilities to register)");
      for (auto c : req.capabilities)
        if (c.empty()) return bad("capability names must not be empty");
      break;
    default:
      break;
  }
  return req;
}

std::optional<uint64_t> read_rid(const uint8_t* data, size_t size,
                                 const decode_limits& limits) noexcept {
  std::optional<uint64_t> rid;
  const bool readable = for_each_entry(
      data, size, limits.max_map, limits.max_string, inside_envelope(limits),
      [&](std::string_view key, const msgpack_reader::item& v) {
        if (key != "rid") return true;
        if (v.type != msgpack_reader::kind::uint) return false;
        rid = v.uint;
        return true;
      });
  if (!readable) return std::nullopt;
  return rid;
}

void begin_ok(buffer& out, uint64_t rid, uint32_t extra_fields) {
  msgpack::packer<buffer> pk(out);
  pk.pack_map(3 + extra_fields);
  pack_key(out, "v");
  pk.pack_uint32(protocol_version);
  pack_key(out, "rid");
  pk.pack_uint64(rid);
  pack_key(out, "ok");
  pk.pack_true();
}

void encode_request(buffer& out, const request& req) {
  msgpack::packer<buffer> pk(out);
  uint32_t n = 3;  // v, op, rid
  const bool actor_op = req.kind == op::call || req.kind == op::cast;
  if (actor_op)
    n += 3 + (req.payload.empty() ? 0 : 1) + (req.init_arg.empty() ? 0 : 1) + (req.once ? 3 : 0) +
         (req.chain_len > 0 ? 1 : 0);
  if (req.kind == op::call || req.kind == op::shard || req.kind == op::register_capabilities ||
      req.kind == op::nodes_for)
    n += 1;
  if (req.kind == op::owner) n += 2;
  if (req.kind == op::actors)
    n += 1 + (req.module.empty() ? 0 : 1) + (req.after.empty() ? 0 : 1);
  pk.pack_map(n);
  pack_key(out, "v");
  pk.pack_uint32(protocol_version);
  pack_key(out, "op");
  pack_str(out, to_string(req.kind));
  pack_key(out, "rid");
  pk.pack_uint64(req.rid);
  if (actor_op) {
    pack_key(out, "cap");
    pack_str(out, req.capability);
    pack_key(out, "mod");
    pack_str(out, req.module);
    pack_key(out, "id");
    pack_str(out, req.id.as_string());
    if (!req.payload.empty()) {
      pack_key(out, "payload");
      pack_bin(out, req.payload);
    }
    if (!req.init_arg.empty()) {
      pack_key(out, "init");
      pack_bin(out, req.init_arg);
    }
    if (req.once) {
      pack_key(out, "once");
      pk.pack_true();
    }
  }
  if (actor_op && req.chain_len > 0) {
    pack_key(out, "chain");
    pk.pack_array(req.chain_len);
    out.write(reinterpret_cast<const char*>(req.chain.data), req.chain.size);
  }
  if (req.kind == op::call) {
    pack_key(out, "timeout_ms");
    pk.pack_uint32(req.timeout_ms);
  }
  if (req.kind == op::shard) {
    pack_key(out, "id");
    pack_str(out, req.id.as_string());
  }
  if (req.kind == op::nodes_for || req.kind == op::owner) {
    pack_key(out, "cap");
    pack_str(out, req.capability);
  }
  if (req.kind == op::owner) {
    pack_key(out, "id");
    pack_str(out, req.id.as_string());
  }
  if (req.kind == op::actors) {
    pack_key(out, "limit");
    pk.pack_uint32(req.limit);
    if (!req.module.empty()) {
      pack_key(out, "mod");
      pack_str(out, req.module);
    }
    if (!req.after.empty()) {
      pack_key(out, "after");
      pack_bin(out, req.after);
    }
  }
  if (req.kind == op::register_capabilities) {
    pack_key(out, "caps");
    pk.pack_array(static_cast<uint32_t>(req.capabilities.size()));
    for (auto c : req.capabilities) pack_str(out, c);
  }
  if (actor_op && req.once) {
    // Last, so that a client can mark a re-send by flipping the frame's final byte, and
    // re-address it (address_request) at a fixed distance from the end.
    pack_key(out, "inc");
    pk.pack_fix_uint64(req.to_incarnation);
    pack_key(out, "retry");
    if (req.retry)
      pk.pack_true();
    else
      pk.pack_false();
  }
}

bool address_request(char* frame, size_t size, uint64_t incarnation) noexcept {
  // The frame ends: fixstr "inc", 0xcf and 8 bytes big-endian, fixstr "retry", a boolean.
  static constexpr char tail_inc[] = "\xa3inc\xcf";
  static constexpr char tail_retry[] = "\xa5retry";
  constexpr size_t tail = 5 + 8 + 6 + 1;
  if (size < tail) return false;
  char* at = frame + size - tail;
  if (std::memcmp(at, tail_inc, 5) != 0 || std::memcmp(at + 13, tail_retry, 6) != 0) return false;
  const uint8_t last = static_cast<uint8_t>(frame[size - 1]);
  if (last != 0xc2 && last != 0xc3) return false;
  const uint64_t big_endian =
      std::endian::native == std::endian::little ? __builtin_bswap64(incarnation) : incarnation;
  std::memcpy(at + 5, &big_endian, 8);
  return true;
}

void encode_call_reply(buffer& out, uint64_t rid, const actor_ref& actor, bytes_view reply) {
  msgpack::packer<buffer> pk(out);
  begin_ok(out, rid, 2);
  pack_key(out, "reply");
  pack_bin(out, reply);
  pack_key(out, "actor");
  pk.pack_map(4);
  pack_key(out, "host");
  pack_str(out, actor.host);
  pack_key(out, "mod");
  pack_str(out, actor.module);
  pack_key(out, "id");
  pack_str(out, actor.id.as_string());
  pack_key(out, "act");
  pk.pack_uint64(actor.activation);
}

void encode_ok(buffer& out, uint64_t rid) { begin_ok(out, rid, 0); }

void encode_error(buffer& out, uint64_t rid, error_code code, std::string_view message,
                  std::string_view owner) {
  msgpack::packer<buffer> pk(out);
  pk.pack_map(4);
  pack_key(out, "v");
  pk.pack_uint32(protocol_version);
  pack_key(out, "rid");
  pk.pack_uint64(rid);
  pack_key(out, "ok");
  pk.pack_false();
  pack_key(out, "error");
  pk.pack_map(owner.empty() ? 2 : 3);
  pack_key(out, "code");
  pack_str(out, to_string(code));
  pack_key(out, "msg");
  pack_str(out, message);
  if (!owner.empty()) {
    pack_key(out, "owner");
    pack_str(out, owner);
  }
}

namespace {

/// Reads MessagePack objects under the decode limits (strings and binaries referenced in place,
/// ext refused), either into msgpack-c's object tree in a zone (read) or without building
/// anything (header and skip, for decode_reply's fields). Both apply the same checks, in
/// header(). The headers come from msgpack_reader; msgpack-c's own parser, with its visitor
/// calls and stack allocations, cost about twice as much per reply. Recursion is bounded by
/// max_depth.
class object_reader {
 public:
  using kind = msgpack_reader::kind;
  using item = msgpack_reader::item;

  /// `zone` may be null when read() is not used.
  object_reader(const uint8_t* data, size_t size, msgpack::zone* zone, const decode_limits& limits)
      : r_(data, size),
        zone_(zone),
        // No container may declare more elements than the frame has bytes.
        max_array_(std::min(limits.max_array, size)),
        max_map_(std::min(limits.max_map, size)),
        max_string_(std::min(limits.max_string, size)),
        max_depth_(limits.max_depth) {}

  /// Reads the next header, holding it to the limits as the `level`-th container (counting
  /// itself) if it is one. On failure, false with error() set.
  bool header(item& it, size_t level) {
    if (!r_.next(it)) return fail(false, "truncated, or a never-used byte");
    switch (it.type) {
      case kind::str:
        return it.size <= max_string_ || fail(true, "str size overflow");
      case kind::ext:  // the envelope has none (msgpack-c's ext limit 0)
        return fail(true, "ext size overflow");
      case kind::array:
        return container(it.size, max_array_, "array size overflow", level);
      case kind::map:
        return container(it.size, max_map_, "map size overflow", level);
      default:
        return true;
    }
  }

  /// Skips the elements of the container `it` (just read by header() at `level`); nothing
  /// for a scalar.
  bool skip_elements(const item& it, size_t level) {
    return (it.type != kind::array && it.type != kind::map) || skip_container(it, level);
  }

  /// Reads the next whole object at `level` and returns its header.
  bool next_object(item& it, size_t level) { return header(it, level) && skip_elements(it, level); }

  /// Reads the object at the current position into `out`, in the zone; `level` counts the
  /// containers it is in, itself included.
  bool read(msgpack::object& out, size_t level) {
    item it;
    if (!header(it, level)) return false;
    switch (it.type) {
      case kind::nil:
        out.type = msgpack::type::NIL;
        return true;
      case kind::boolean:
        out.type = msgpack::type::BOOLEAN;
        out.via.boolean = it.boolean;
        return true;
      case kind::uint:
        out.type = msgpack::type::POSITIVE_INTEGER;
        out.via.u64 = it.uint;
        return true;
      case kind::sint:
        out.type = msgpack::type::NEGATIVE_INTEGER;
        out.via.i64 = it.sint;
        return true;
      case kind::float32:
      case kind::float64:
        out.type = it.type == kind::float32 ? msgpack::type::FLOAT32 : msgpack::type::FLOAT64;
        out.via.f64 = it.real;
        return true;
      case kind::str:
        out.type = msgpack::type::STR;
        out.via.str = {it.size, reinterpret_cast<const char*>(it.bytes)};
        return true;
      case kind::bin:
        out.type = msgpack::type::BIN;
        out.via.bin = {it.size, reinterpret_cast<const char*>(it.bytes)};
        return true;
      case kind::array: {
        auto* items = allocate<msgpack::object>(it.size);
        out.type = msgpack::type::ARRAY;
        out.via.array = {it.size, items};
        for (uint32_t i = 0; i < it.size; ++i)
          if (!read(items[i], level + 1)) return false;
        return true;
      }
      case kind::map: {
        auto* pairs = allocate<msgpack::object_kv>(it.size);
        out.type = msgpack::type::MAP;
        out.via.map = {it.size, pairs};
        for (uint32_t i = 0; i < it.size; ++i)
          if (!read(pairs[i].key, level + 1) || !read(pairs[i].val, level + 1)) return false;
        return true;
      }
      case kind::ext:
        break;
    }
    return fail(false, "unknown type");
  }

  /// Whether every byte was read.
  bool at_end() const noexcept { return r_.at_end(); }
  /// What failed, and whether it was a limit (rather than malformed bytes).
  std::string_view error() const noexcept { return error_; }
  bool over_limit() const noexcept { return over_limit_; }

 private:
  bool fail(bool limit, std::string_view what) {
    over_limit_ = limit;
    error_ = what;
    return false;
  }

  bool skip_container(const item& it, size_t level) {
    const uint64_t n = it.type == kind::map ? uint64_t{2} * it.size : it.size;
    item inner;
    for (uint64_t i = 0; i < n; ++i)
      if (!next_object(inner, level + 1)) return false;
    return true;
  }

  /// Checks a container of `n` elements at `level` against the limits.
  bool container(uint32_t n, size_t max, std::string_view overflow, size_t level) {
    if (n > max) return fail(true, overflow);
    if (level > max_depth_) return fail(true, "depth size overflow");
    if (n > r_.remaining()) return fail(false, "truncated");  // each element takes a byte
    return true;
  }

  /// Zone room for a container's `n` elements (nullptr when it has none).
  template <class Element>
  Element* allocate(uint32_t n) {
    return n == 0 ? nullptr
                  : static_cast<Element*>(
                        zone_->allocate_align(n * sizeof(Element), alignof(Element)));
  }

  msgpack_reader r_;
  msgpack::zone* zone_;
  size_t max_array_, max_map_, max_string_, max_depth_;
  std::string_view error_;
  bool over_limit_ = false;
};

/// The reply keys the client reads (and those of "actor"), told apart by length first as
/// field_of does for requests: a reply has nine keys, and comparing each with every name cost
/// more than reading the frame.
enum class reply_field : uint8_t { other, rid, ok, reply, actor, error, host, mod, id, act };

reply_field reply_field_of(std::string_view key) {
  switch (key.size()) {
    case 2: return key == "ok" ? reply_field::ok : key == "id" ? reply_field::id : reply_field::other;
    case 3:
      return key == "rid" ? reply_field::rid : key == "mod" ? reply_field::mod
           : key == "act" ? reply_field::act : reply_field::other;
    case 4: return key == "host" ? reply_field::host : reply_field::other;
    case 5:
      return key == "reply" ? reply_field::reply : key == "actor" ? reply_field::actor
           : key == "error" ? reply_field::error : reply_field::other;
    default: return reply_field::other;
  }
}

tl::expected<reply, error> refused(const object_reader& reader) {
  return bad(std::string(reader.over_limit() ? "envelope exceeds a decode limit: "
                                             : "envelope is not valid MessagePack: ") +
             std::string(reader.error()));
}

}  // namespace

tl::expected<reply, error> decode_reply(const uint8_t* data, size_t size,
                                        const decode_limits& limits) {
  // The client reads one reply per call: the fields are taken as the reader passes them, and
  // everything else is checked and skipped, with no tree. The zone overload below adds the
  // tree, read by the same checks.
  using kind = object_reader::kind;
  if (size == 0) return bad("empty frame");
  object_reader r(data, size, nullptr, limits);
  object_reader::item root, k, v;
  if (!r.header(root, 1)) return refused(r);
  if (root.type != kind::map) {
    if (!r.skip_elements(root, 1)) return refused(r);
    if (!r.at_end()) return bad("envelope has trailing bytes after the map");
    return bad("envelope must be a map");
  }
  reply rep;
  bool have_ok = false, keys_are_strings = true;
  for (uint32_t i = 0; i < root.size; ++i) {
    if (!r.next_object(k, 2) || !r.header(v, 2)) return refused(r);
    keys_are_strings = keys_are_strings && k.type == kind::str;
    const reply_field f = k.type == kind::str ? reply_field_of(as_string(k)) : reply_field::other;
    if (f == reply_field::actor && v.type == kind::map) {
      rep.has_actor = true;
      for (uint32_t j = 0; j < v.size; ++j) {
        object_reader::item ak, av;
        if (!r.next_object(ak, 3) || !r.next_object(av, 3)) return refused(r);
        if (ak.type != kind::str) continue;
        switch (reply_field_of(as_string(ak))) {
          case reply_field::host:
            if (av.type == kind::str) rep.actor.host = as_string(av);
            break;
          case reply_field::mod:
            if (av.type == kind::str) rep.actor.module = as_string(av);
            break;
          case reply_field::id:
            if ((av.type == kind::str || av.type == kind::bin) && av.size <= limits.max_string)
              rep.actor.id = as_bytes(av);
            break;
          case reply_field::act:
            if (av.type == kind::uint) rep.actor.activation = av.uint;
            break;
          default:
            break;
        }
      }
      continue;
    }
    if (f == reply_field::error && v.type == kind::map) {
      for (uint32_t j = 0; j < v.size; ++j) {
        object_reader::item ek, ev;
        if (!r.next_object(ek, 3) || !r.next_object(ev, 3)) return refused(r);
        if (ek.type != kind::str || ev.type != kind::str) continue;
        const std::string_view ekey = as_string(ek);
        if (ekey == "code") rep.error_code = std::string(as_string(ev));
        if (ekey == "msg") rep.error_message = std::string(as_string(ev));
        if (ekey == "owner") rep.owner_hint = std::string(as_string(ev));
      }
      continue;
    }
    if (!r.skip_elements(v, 2)) return refused(r);
    if (f == reply_field::rid && v.type == kind::uint) {
      rep.rid = v.uint;
    } else if (f == reply_field::ok && v.type == kind::boolean) {
      rep.ok = v.boolean;
      have_ok = true;
    } else if (f == reply_field::reply && v.type == kind::bin) {
      rep.body = as_bytes(v);
    }
  }
  if (!r.at_end()) return bad("envelope has trailing bytes after the map");
  if (!keys_are_strings) return bad("reply keys must be strings");
  if (!have_ok) return bad("reply has no \"ok\"");
  return rep;
}

tl::expected<reply, error> decode_reply(const uint8_t* data, size_t size, msgpack::zone& zone,
                                        const decode_limits& limits) {
  auto rep = decode_reply(data, size, limits);
  if (!rep) return rep;
  // The same checks passed above, so building the tree cannot fail.
  auto* stored = static_cast<msgpack::object*>(
      zone.allocate_align(sizeof(msgpack::object), alignof(msgpack::object)));
  object_reader reader(data, size, &zone, limits);
  if (!reader.read(*stored, 1)) return refused(reader);
  rep->envelope = stored;
  return rep;
}

}  // namespace mesh::wire
