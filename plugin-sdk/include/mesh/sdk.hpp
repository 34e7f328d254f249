// Mesh plugin SDK: the header-only C++ layer over plugin_abi.h.
//
// An actor is a plain class:
//
//   class Counter {
//    public:
//     explicit Counter(const mesh::sdk::context& ctx)
//         : count_(ctx.init_arg()["start"].as_int(0)) {}
//     void call(const mesh::sdk::value& msg, mesh::sdk::writer& reply) {
//       if (msg["op"].as_string() == "incr") count_ += msg["by"].as_int(1);
//       reply.map().kv("count", count_);
//     }
//     void cast(const mesh::sdk::value& msg);                 // optional
//     void on_deactivate(mesh::sdk::deactivation reason);     // optional
//    private:
//     int64_t count_;
//   };
//
//   MESH_PLUGIN("counter-plugin", "1.0.0", mesh::sdk::module<Counter>("Counter", "counter"))
//
// Throwing from a handler fails the request; a `mesh::sdk::rejected` exception keeps the actor,
// any other exception discards it (the next request gets a fresh one). Views (`value`,
// `context`) are valid only during the call that received them: copy what you keep.
#pragma once

#include <mesh/plugin_abi.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <msgpack.hpp>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#if defined(_WIN32)
#define MESH_EXPORT __declspec(dllexport)
#else
#define MESH_EXPORT __attribute__((visibility("default")))
#endif

namespace mesh::sdk {

/// Thrown by a handler to reject one request (bad payload, unknown action) while keeping the
/// actor and its state. The caller gets error code `rejected` with this message.
class rejected : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Why an actor is deactivated; see mesh_deactivation_reason.
enum class deactivation {
  idle = MESH_DEACTIVATE_IDLE,
  shutdown = MESH_DEACTIVATE_SHUTDOWN,
  rebalance = MESH_DEACTIVATE_REBALANCE,
  crashed = MESH_DEACTIVATE_CRASHED,
};

/// A read-only view of one decoded MessagePack object. Missing map keys read as nil, so
/// `msg["a"]["b"].as_int(0)` never throws for an absent field. Reading a present field with the
/// wrong type throws `rejected` naming the expected type.
class value {
 public:
  value() noexcept : obj_(&nil_object()) {}
  explicit value(const msgpack::object& obj) noexcept : obj_(&obj) {}

  bool is_nil() const noexcept { return obj_->type == msgpack::type::NIL; }
  bool is_map() const noexcept { return obj_->type == msgpack::type::MAP; }
  bool is_array() const noexcept { return obj_->type == msgpack::type::ARRAY; }
  bool is_string() const noexcept { return obj_->type == msgpack::type::STR; }
  bool is_int() const noexcept {
    return obj_->type == msgpack::type::POSITIVE_INTEGER ||
           obj_->type == msgpack::type::NEGATIVE_INTEGER;
  }
  bool is_number() const noexcept {
    return is_int() || obj_->type == msgpack::type::FLOAT32 ||
           obj_->type == msgpack::type::FLOAT64;
  }

  /// The value under `key` of a map (nil when absent or when this is not a map).
  value operator[](std::string_view key) const noexcept {
    if (!is_map()) return value{};
    const auto& m = obj_->via.map;
    for (uint32_t i = 0; i < m.size; ++i) {
      const auto& k = m.ptr[i].key;
      if (k.type == msgpack::type::STR && std::string_view(k.via.str.ptr, k.via.str.size) == key)
        return value{m.ptr[i].val};
    }
    return value{};
  }

  /// Whether this is a map holding `key`.
  bool contains(std::string_view key) const noexcept { return !(*this)[key].is_nil(); }

  /// Element `index` of an array (nil when out of range or not an array).
  value at(size_t index) const noexcept {
    if (!is_array() || index >= obj_->via.array.size) return value{};
    return value{obj_->via.array.ptr[index]};
  }

  /// Number of elements of an array or entries of a map, else 0.
  size_t size() const noexcept {
    if (is_array()) return obj_->via.array.size;
    if (is_map()) return obj_->via.map.size;
    return 0;
  }

  /// The string; `fallback` when nil; throws `rejected` for another type.
  std::string_view as_string(std::string_view fallback = {}) const {
    if (is_nil()) return fallback;
    if (!is_string()) throw rejected("expected a string");
    return {obj_->via.str.ptr, obj_->via.str.size};
  }

  /// The integer (a float with no fraction is accepted); `fallback` when nil.
  int64_t as_int(int64_t fallback = 0) const {
    switch (obj_->type) {
      case msgpack::type::NIL: return fallback;
      case msgpack::type::POSITIVE_INTEGER:
        if (obj_->via.u64 > static_cast<uint64_t>(INT64_MAX)) throw rejected("integer too large");
        return static_cast<int64_t>(obj_->via.u64);
      case msgpack::type::NEGATIVE_INTEGER: return obj_->via.i64;
      case msgpack::type::FLOAT32:
      case msgpack::type::FLOAT64: {
        const double d = obj_->via.f64;
        // Range first: converting NaN or an out-of-range double to int64_t is undefined.
        if (!(d >= -0x1p63 && d < 0x1p63) || d != static_cast<double>(static_cast<int64_t>(d)))
          throw rejected("expected an integer");
        return static_cast<int64_t>(d);
      }
      default: throw rejected("expected an integer");
    }
  }

  /// The number as a double; `fallback` when nil.
  double as_double(double fallback = 0) const {
    switch (obj_->type) {
      case msgpack::type::NIL: return fallback;
      case msgpack::type::POSITIVE_INTEGER: return static_cast<double>(obj_->via.u64);
      case msgpack::type::NEGATIVE_INTEGER: return static_cast<double>(obj_->via.i64);
      case msgpack::type::FLOAT32:
      case msgpack::type::FLOAT64: return obj_->via.f64;
      default: throw rejected("expected a number");
    }
  }

  /// The boolean; `fallback` when nil.
  bool as_bool(bool fallback = false) const {
    if (is_nil()) return fallback;
    if (obj_->type != msgpack::type::BOOLEAN) throw rejected("expected a boolean");
    return obj_->via.boolean;
  }

  /// Converts with msgpack-c's adaptors (std::string, std::vector, std::map, ...).
  template <class T>
  T as() const {
    try {
      return obj_->as<T>();
    } catch (const msgpack::type_error&) {
      throw rejected("value has the wrong type");
    }
  }

  /// The underlying msgpack-c object, for full control.
  const msgpack::object& object() const noexcept { return *obj_; }

 private:
  static const msgpack::object& nil_object() noexcept {
    static const msgpack::object nil;
    return nil;
  }
  const msgpack::object* obj_;
};

class writer;

/// Writes a map whose size is counted as entries are added (a map32 header patched on close).
/// Close nested builders before writing to their parent again; the destructor closes.
class map_builder {
 public:
  map_builder(const map_builder&) = delete;
  map_builder& operator=(const map_builder&) = delete;
  map_builder(map_builder&& other) noexcept
      : out_(other.out_), header_(other.header_), count_(other.count_) {
    other.out_ = nullptr;
  }
  ~map_builder() { close(); }

  /// Adds `key` with any value msgpack-c can pack.
  template <class T>
  map_builder& kv(std::string_view key, const T& v);
  /// Adds `key` with a nested map; fill the returned builder before the next kv on this one.
  map_builder map(std::string_view key);
  /// Adds `key` and lets the caller pack exactly one object with `writer`.
  writer& key(std::string_view key);
  /// Writes the entry count into the header; further writes go to the parent.
  void close() noexcept;

 private:
  friend class writer;
  explicit map_builder(writer& out);
  writer* out_;
  size_t header_;
  uint32_t count_ = 0;
};

/// The reply (or error message) under construction: a growable byte buffer with a msgpack-c
/// packer. A handler writes exactly one object: `reply.value(x)`, `reply.map()...`, or
/// `reply.packer().pack(...)`. Writing nothing replies nil.
class writer {
 public:
  writer() : packer_(*this) {}
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  /// Packs one value (anything msgpack-c can pack).
  template <class T>
  void value(const T& v) {
    packer_.pack(v);
  }
  /// Packs nil.
  void nil() { packer_.pack_nil(); }
  /// Starts a map; see map_builder.
  map_builder map() { return map_builder(*this); }
  /// The raw msgpack-c packer.
  msgpack::packer<writer>& packer() noexcept { return packer_; }

  /// Stream interface used by msgpack::packer: a bounds check and a memcpy (a reply is
  /// written in many small pieces); the storage only grows and is kept across clear().
  void write(const char* data, size_t size) {
    if (size == 0) return;
    if (size > buffer_.size() - size_)
      buffer_.resize(std::max(buffer_.size() * 2, std::max<size_t>(256, size_ + size)));
    std::memcpy(buffer_.data() + size_, data, size);
    size_ += size;
  }

  const char* data() const noexcept { return buffer_.data(); }
  size_t size() const noexcept { return size_; }
  void clear() noexcept { size_ = 0; }

 private:
  friend class map_builder;
  std::vector<char> buffer_;  ///< capacity in use; bytes past size_ are scratch
  size_t size_ = 0;
  msgpack::packer<writer> packer_;
};

inline map_builder::map_builder(writer& out) : out_(&out), header_(out.size()) {
  const char header[5] = {static_cast<char>(0xdf), 0, 0, 0, 0};
  out.write(header, sizeof header);
}

template <class T>
map_builder& map_builder::kv(std::string_view key, const T& v) {
  out_->packer_.pack(key);
  out_->packer_.pack(v);
  ++count_;
  return *this;
}

inline map_builder map_builder::map(std::string_view key) {
  out_->packer_.pack(key);
  ++count_;
  return map_builder(*out_);
}

inline writer& map_builder::key(std::string_view key) {
  out_->packer_.pack(key);
  ++count_;
  return *out_;
}

inline void map_builder::close() noexcept {
  if (out_ == nullptr) return;
  char* h = out_->buffer_.data() + header_ + 1;
  h[0] = static_cast<char>(count_ >> 24);
  h[1] = static_cast<char>(count_ >> 16);
  h[2] = static_cast<char>(count_ >> 8);
  h[3] = static_cast<char>(count_);
  out_ = nullptr;
}

/// The outcome of an actor's own call (host::call), handed to its continuation.
class result {
 public:
  result(bool ok, value reply, std::string_view code, std::string_view message) noexcept
      : ok_(ok), reply_(reply), code_(code), message_(message) {}
  /// The callee replied.
  bool ok() const noexcept { return ok_; }
  /// The reply (nil on an error); valid only inside the continuation.
  const value& reply() const noexcept { return reply_; }
  /// The error's wire name ("timeout", "unknown_module", "actor_error", ...); empty when ok.
  std::string_view error_code() const noexcept { return code_; }
  /// The error message for people; empty when ok.
  std::string_view error_message() const noexcept { return message_; }

 private:
  bool ok_;
  value reply_;
  std::string_view code_;
  std::string_view message_;
};

/// A call the actor answers later (host::defer, host::reply).
struct deferred {
  uint64_t token = 0;
  explicit operator bool() const noexcept { return token != 0; }
};

/// A timer (host::after, host::every): cancel it with host::cancel.
struct timer {
  uint64_t handle = 0;
  explicit operator bool() const noexcept { return handle != 0; }
  friend bool operator==(timer a, timer b) noexcept { return a.handle == b.handle; }
};

/// Who an actor is: its reference as callers see it.
struct actor_ref {
  std::string capability;
  std::string module;
  std::string id;
  uint64_t activation = 0;
  std::string host;
};

namespace detail {

/// What the SDK keeps per actor beside the user's object: the host's services and the
/// continuations of the actor's calls and timers.
struct actor_state {
  const mesh_host_services* services = nullptr;
  void* self = nullptr;
  actor_ref ref;
  std::vector<std::pair<uint64_t, std::function<void(const result&)>>> pending;  // by handle
  struct timer_entry {
    std::function<void()> fire;
    bool periodic;
    std::string name;  ///< empty: known by its handle only
  };
  /// By handle: a firing finds its function in O(1), however many timers the actor has.
  std::unordered_map<uint64_t, timer_entry> timers;

  template <class Vec>
  static auto find(Vec& v, uint64_t handle) {
    return std::find_if(v.begin(), v.end(), [&](const auto& e) { return key_of(e) == handle; });
  }
  static uint64_t key_of(const std::pair<uint64_t, std::function<void(const result&)>>& e) {
    return e.first;
  }
};

/// The SDK's state for the actor `raw` describes.
inline actor_state make_state(const mesh_actor_context& raw) {
  actor_state st;
  if (raw.struct_size >= offsetof(mesh_actor_context, host) + sizeof raw.host) {
    st.services = raw.services;
    st.self = raw.self;
    if (raw.host != nullptr) st.ref.host = raw.host;
  }
  st.ref.capability = raw.capability;
  st.ref.module = raw.module;
  st.ref.id.assign(reinterpret_cast<const char*>(raw.id.data), raw.id.size);
  st.ref.activation = raw.activation;
  return st;
}

/// Packs one value for an outbound payload, on a buffer of its own (the reply writer may be in
/// use by the handler that calls).
struct payload_buffer {
  msgpack::sbuffer buf;
};
inline payload_buffer& thread_payload() {
  thread_local payload_buffer p;
  return p;
}

/// Error output that keeps the host's message, for exceptions.
struct error_text {
  std::string text;
  static int write(void* state, const uint8_t* data, size_t size) noexcept {
    auto* self = static_cast<error_text*>(state);
    try {
      self->text.assign(reinterpret_cast<const char*>(data), size);
    } catch (...) {
      return 1;
    }
    return 0;
  }
  mesh_output as_output() noexcept { return mesh_output{this, &error_text::write}; }
  /// The message (the host writes one MessagePack string).
  std::string message() const {
    try {
      auto handle = msgpack::unpack(text.data(), text.size());
      if (handle.get().type == msgpack::type::STR) return handle.get().as<std::string>();
    } catch (...) {
    }
    return text.empty() ? std::string("the host refused") : text;
  }
};

}  // namespace detail

/// An actor's handle on the host (ABI 1.2 host services): keep the one the constructor gets
/// (`ctx.host()`) and use it from any handler. Nothing here blocks: a call's outcome comes back
/// later, in the actor's own turn order, to the continuation given; a timer's firing likewise.
/// Between a call and its continuation the actor keeps handling its mailbox (state may change:
/// read it again in the continuation). Bad use (an empty id, a payload that is not MessagePack,
/// a cap reached) throws `rejected` with the host's message.
class host {
 public:
  host() = default;
  explicit host(detail::actor_state* state) noexcept : state_(state) {}

  /// The host offers services (false only on hosts older than ABI 1.2).
  bool available() const noexcept { return state_ != nullptr && state_->services != nullptr; }
  /// This actor's reference.
  const actor_ref& self() const { return state().ref; }
  /// The C table and this actor's handle for it (mesh_host_services), for what the SDK does
  /// not wrap.
  const mesh_host_services* services() const noexcept {
    return state_ != nullptr ? state_->services : nullptr;
  }
  void* handle() const noexcept { return state_ != nullptr ? state_->self : nullptr; }

  /// Calls actor `id` of `module` (capability `capability`) with `payload` (anything msgpack-c
  /// packs); `then(const result&)` runs in a later turn with the reply or the error. `timeout`
  /// 0 gives the callee what is left of the current request's deadline (or the host default).
  template <class T, class F>
  void call(std::string_view capability, std::string_view module, std::string_view id,
            const T& payload, F&& then, std::chrono::milliseconds timeout = {}) {
    detail::actor_state& st = state();
    const uint64_t handle = send(true, capability, module, id, payload, static_cast<uint32_t>(timeout.count()), 0);
    st.pending.emplace_back(handle, std::function<void(const result&)>(std::forward<F>(then)));
  }

  /// Casts `payload` to an actor; nothing comes back (failures are the host's debug log).
  template <class T>
  void cast(std::string_view capability, std::string_view module, std::string_view id,
            const T& payload) {
    send(false, capability, module, id, payload, 0, 0);
  }
  /// Casts and runs `then(const result&)` once the cast is in the target's mailbox (ok), or
  /// with the error.
  template <class T, class F>
  void cast(std::string_view capability, std::string_view module, std::string_view id,
            const T& payload, F&& then) {
    detail::actor_state& st = state();
    const uint64_t handle = send(false, capability, module, id, payload, MESH_HOST_CAST_ACK, 0);
    st.pending.emplace_back(handle, std::function<void(const result&)>(std::forward<F>(then)));
  }

  /// Inside a call handler: the reply comes later, with reply() or reject(); what the handler
  /// writes to its reply is ignored. Throws `rejected` outside a call handler or when the
  /// actor holds too many deferred calls.
  deferred defer() {
    detail::actor_state& st = state();
    const uint64_t token = st.services->defer_reply(st.self);
    if (token == 0)
      throw rejected("defer() works only inside a call handler, once per call, and an actor "
                     "may hold at most 10000 deferred calls");
    return deferred{token};
  }
  /// Answers a deferred call with `value`. False when the call was answered already.
  template <class T>
  bool reply(deferred call, const T& value) {
    detail::actor_state& st = state();
    auto& p = detail::thread_payload();
    p.buf.clear();
    msgpack::pack(p.buf, value);
    return st.services->reply(st.self, call.token, MESH_STATUS_OK,
                              mesh_bytes{reinterpret_cast<const uint8_t*>(p.buf.data()), p.buf.size()},
                              nullptr) != 0;
  }
  /// Answers a deferred call with error `rejected` and `message`.
  bool reject(deferred call, std::string_view message) {
    detail::actor_state& st = state();
    auto& p = detail::thread_payload();
    p.buf.clear();
    msgpack::pack(p.buf, message);
    return st.services->reply(st.self, call.token, MESH_STATUS_REJECTED,
                              mesh_bytes{reinterpret_cast<const uint8_t*>(p.buf.data()), p.buf.size()},
                              nullptr) != 0;
  }

  /// Runs `fire()` once, `delay` from now, in the actor's turn order. A negative delay (a time
  /// in the past) throws `rejected`.
  template <class F>
  timer after(std::chrono::milliseconds delay, F&& fire) {
    if (delay.count() < 0) throw rejected("a timer cannot be due in the past");
    return arm(delay, std::chrono::milliseconds(0), std::function<void()>(std::forward<F>(fire)));
  }
  /// The timer named `name` (Akka's timer keys): replaces a timer of that name if one is armed,
  /// first due after `first`, then every `period` (0: once). cancel(name) cancels it.
  template <class F>
  timer start(std::string_view name, std::chrono::milliseconds first,
              std::chrono::milliseconds period, F&& fire) {
    if (name.empty()) throw rejected("a named timer needs a name");
    if (first.count() < 0 || period.count() < 0)
      throw rejected("a timer cannot be due in the past");
    cancel(name);
    timer t = arm(first, period, std::function<void()>(std::forward<F>(fire)));
    state().timers[t.handle].name.assign(name);
    return t;
  }
  /// Runs `fire()` every `period` (first after `first`, by default one period): each period
  /// starts when the previous firing's handler ended, so firings never pile up. A zero period
  /// throws `rejected`.
  template <class F>
  timer every(std::chrono::milliseconds period, F&& fire,
              std::chrono::milliseconds first = std::chrono::milliseconds(-1)) {
    if (period.count() <= 0) throw rejected("a periodic timer needs a period above zero");
    return arm(first.count() < 0 ? period : first, period,
               std::function<void()>(std::forward<F>(fire)));
  }
  /// Cancels a timer: it does not fire after this. False when it was not armed.
  bool cancel(timer t) {
    detail::actor_state& st = state();
    st.timers.erase(t.handle);
    return t.handle != 0 && st.services->timer_cancel(st.self, t.handle) != 0;
  }
  /// Cancels the timer named `name`. False when none was armed.
  bool cancel(std::string_view name) {
    detail::actor_state& st = state();
    auto it = std::find_if(st.timers.begin(), st.timers.end(),
                           [&](const auto& e) { return e.second.name == name; });
    return it != st.timers.end() && cancel(timer{it->first});
  }

  /// Asks to be deactivated once this turn ends and the mailbox is empty.
  void deactivate() {
    detail::actor_state& st = state();
    st.services->deactivate(st.self);
  }
  /// What is left of the current request's deadline (0 when none).
  std::chrono::milliseconds remaining() const {
    const detail::actor_state& st = state();
    return std::chrono::milliseconds(st.services->remaining_ms(st.self));
  }

 private:
  detail::actor_state& state() const {
    if (!available()) throw std::logic_error("this host offers no services (ABI older than 1.2)");
    return *state_;
  }

  template <class T>
  uint64_t send(bool is_call, std::string_view capability, std::string_view module,
                std::string_view id, const T& payload, uint32_t arg, uint64_t tag) {
    detail::actor_state& st = state();
    auto& p = detail::thread_payload();
    p.buf.clear();
    msgpack::pack(p.buf, payload);
    const std::string cap(capability), mod(module);
    detail::error_text error;
    mesh_output out = error.as_output();
    const mesh_bytes id_bytes{reinterpret_cast<const uint8_t*>(id.data()), id.size()};
    const mesh_bytes body{reinterpret_cast<const uint8_t*>(p.buf.data()), p.buf.size()};
    const uint64_t handle =
        is_call ? st.services->call(st.self, cap.c_str(), mod.c_str(), id_bytes, body, arg, tag, &out)
                : st.services->cast(st.self, cap.c_str(), mod.c_str(), id_bytes, body, arg, tag, &out);
    if (handle == 0) throw rejected(error.message());
    return handle;
  }

  timer arm(std::chrono::milliseconds due, std::chrono::milliseconds period,
            std::function<void()> fire) {
    detail::actor_state& st = state();
    detail::error_text error;
    mesh_output out = error.as_output();
    const uint64_t handle = st.services->timer_start(
        st.self, static_cast<uint64_t>(std::max<int64_t>(0, due.count())),
        static_cast<uint64_t>(period.count()), 0, &out);
    if (handle == 0) throw rejected(error.message());
    st.timers.emplace(handle, detail::actor_state::timer_entry{std::move(fire), period.count() > 0, {}});
    return timer{handle};
  }

  detail::actor_state* state_ = nullptr;
};

/// What an actor receives when it is created; valid only inside its constructor (keep
/// `host()`, which stays valid for the actor's life).
class context {
 public:
  context(const mesh_actor_context& raw, value init_arg,
          std::unique_ptr<detail::actor_state>* state = nullptr) noexcept
      : raw_(raw), init_(init_arg), state_(state) {}
  /// The actor's handle on the host services (calls, casts, deferred replies, timers). An actor
  /// that never asks for it carries none of their state (8 bytes).
  sdk::host host() const {
    if (state_ == nullptr) return sdk::host();
    if (*state_ == nullptr) *state_ = std::make_unique<detail::actor_state>(detail::make_state(raw_));
    return sdk::host(state_->get());
  }
  /// The actor id.
  std::string_view id() const noexcept {
    return {reinterpret_cast<const char*>(raw_.id.data), raw_.id.size};
  }
  /// The init_arg of the activating request (nil when it carried none).
  const value& init_arg() const noexcept { return init_; }
  std::string_view module() const noexcept { return raw_.module; }
  std::string_view capability() const noexcept { return raw_.capability; }
  /// Host-unique activation number.
  uint64_t activation() const noexcept { return raw_.activation; }

 private:
  const mesh_actor_context& raw_;
  value init_;
  std::unique_ptr<detail::actor_state>* state_;
};

namespace detail {

/// Limits for decoding a payload of `size` bytes: no container can declare more elements than
/// there are bytes left, so a few hostile bytes cannot ask for gigabytes.
inline msgpack::unpack_limit limits_for(size_t size) {
  return msgpack::unpack_limit(size, size, size, size, size, 64);
}

inline bool reference_all(msgpack::type::object_type, std::size_t, void*) { return true; }

/// Decodes `bytes` (empty means nil) into `zone`; throws `rejected` when they are not exactly
/// one well-formed MessagePack object within limits.
inline value decode(mesh_bytes bytes, msgpack::zone& zone, msgpack::object& storage) {
  if (bytes.size == 0) return value{};
  std::size_t offset = 0;
  bool referenced = false;
  try {
    storage = msgpack::unpack(zone, reinterpret_cast<const char*>(bytes.data), bytes.size, offset,
                              referenced, &reference_all, nullptr, limits_for(bytes.size));
  } catch (const std::exception& e) {
    throw rejected(std::string("payload is not valid MessagePack: ") + e.what());
  }
  if (offset != bytes.size) throw rejected("payload has trailing bytes after one MessagePack object");
  return value{storage};
}

inline void emit(mesh_output* out, const char* data, size_t size) noexcept {
  if (out != nullptr && out->write != nullptr)
    out->write(out->host_state, reinterpret_cast<const uint8_t*>(data), size);
}

inline void emit_message(mesh_output* out, std::string_view message) noexcept {
  try {
    writer w;
    w.value(message);
    emit(out, w.data(), w.size());
  } catch (...) {
  }
}

/// Per-thread scratch for decoding payloads and building replies; handlers run one at a time on
/// a thread, so one set is enough and nothing is allocated per call once warm.
struct scratch {
  msgpack::zone zone;
  msgpack::object object;
  writer out;
};

inline scratch& thread_scratch() {
  thread_local scratch s;
  return s;
}

template <class A>
concept has_cast = requires(A a, const value& v) { a.cast(v); };
template <class A>
concept has_on_deactivate = requires(A a, deactivation r) { a.on_deactivate(r); };
template <class A>
concept declares_nonblocking = requires { requires A::nonblocking == true; };

template <class A>
mesh_status run_guarded(mesh_output* out, auto&& body) noexcept {
  try {
    body();
    return MESH_STATUS_OK;
  } catch (const rejected& e) {
    emit_message(out, e.what());
    return MESH_STATUS_REJECTED;
  } catch (const std::exception& e) {
    emit_message(out, e.what());
    return MESH_STATUS_ACTOR_ERROR;
  } catch (...) {
    emit_message(out, "unknown exception");
    return MESH_STATUS_ACTOR_ERROR;
  }
}

template <class A>
concept has_on_message = requires(A a, const mesh_message& m) { a.on_message(m); };

/// The actor as the host holds it: the SDK's state (made when the actor first asks for its
/// host), then the user's object.
template <class A>
struct holder {
  std::unique_ptr<actor_state> state;
  A actor;
  holder(const mesh_actor_context& raw, const value& init) : actor(context(raw, init, &state)) {}
};

template <class A>
struct glue {
  static void* create(const mesh_actor_context* raw, mesh_output* error) noexcept {
    try {
      msgpack::zone zone;
      msgpack::object storage;
      value init = decode(raw->init_arg, zone, storage);
      return new holder<A>(*raw, init);
    } catch (const std::exception& e) {
      emit_message(error, e.what());
    } catch (...) {
      emit_message(error, "unknown exception");
    }
    return nullptr;
  }

  static A& actor_of(void* p) noexcept { return static_cast<holder<A>*>(p)->actor; }

  static mesh_status call(void* actor, mesh_bytes payload, mesh_output* out) noexcept {
    scratch& s = thread_scratch();
    s.zone.clear();
    s.out.clear();
    mesh_status st = run_guarded<A>(out, [&] {
      value v = decode(payload, s.zone, s.object);
      actor_of(actor).call(v, s.out);
    });
    if (st == MESH_STATUS_OK) {
      if (s.out.size() == 0) s.out.nil();
      emit(out, s.out.data(), s.out.size());
    }
    return st;
  }

  static mesh_status cast(void* actor, mesh_bytes payload, mesh_output* out) noexcept {
    scratch& s = thread_scratch();
    s.zone.clear();
    s.out.clear();
    return run_guarded<A>(out, [&] {
      value v = decode(payload, s.zone, s.object);
      if constexpr (has_cast<A>) {
        actor_of(actor).cast(v);
      } else {
        actor_of(actor).call(v, s.out);  // reply discarded
      }
    });
  }

  static mesh_status on_message(void* actor, const mesh_message* m, mesh_output* out) noexcept {
    auto* h = static_cast<holder<A>*>(actor);
    if (h->state == nullptr) return MESH_STATUS_OK;  // it never used the services
    actor_state& st = *h->state;
    return run_guarded<A>(out, [&] {
      if (m->kind == MESH_MESSAGE_REPLY) {
        auto it = actor_state::find(st.pending, m->handle);
        if (it == st.pending.end()) {
          if constexpr (has_on_message<A>) h->actor.on_message(*m);
          return;
        }
        std::function<void(const result&)> then = std::move(it->second);
        *it = std::move(st.pending.back());
        st.pending.pop_back();
        if (m->ok) {
          // The thread's scratch zone, as call() uses: handlers never nest on a thread.
          scratch& s = thread_scratch();
          s.zone.clear();
          value reply = decode(m->body, s.zone, s.object);
          then(result(true, reply, {}, {}));
        } else {
          then(result(false, value{}, m->error_code != nullptr ? m->error_code : "",
                      std::string_view(reinterpret_cast<const char*>(m->body.data), m->body.size)));
        }
      } else if (m->kind == MESH_MESSAGE_TIMER) {
        auto it = st.timers.find(m->handle);
        if (it == st.timers.end()) {
          if constexpr (has_on_message<A>) h->actor.on_message(*m);
          return;
        }
        if (it->second.periodic) {
          std::function<void()> fire = it->second.fire;  // a copy: the handler may cancel it
          fire();
        } else {
          std::function<void()> fire = std::move(it->second.fire);
          st.timers.erase(it);
          fire();
        }
      } else if constexpr (has_on_message<A>) {
        h->actor.on_message(*m);
      }
    });
  }

  static void destroy(void* actor, mesh_deactivation_reason reason) noexcept {
    auto* h = static_cast<holder<A>*>(actor);
    if constexpr (has_on_deactivate<A>) {
      if (reason != MESH_DEACTIVATE_CRASHED) {
        try {
          h->actor.on_deactivate(static_cast<deactivation>(reason));
        } catch (...) {
        }
      }
    }
    delete h;
  }
};

}  // namespace detail

/// Describes actor class `A` as module `name` of `capability`. The strings must outlive the
/// plugin (string literals do). An actor whose handlers only compute in memory (never block)
/// declares `static constexpr bool nonblocking = true;` and the host runs them on its request
/// thread (MESH_MODULE_NONBLOCKING in mesh/plugin_abi.h).
template <class A>
constexpr mesh_module module(const char* name, const char* capability) noexcept {
  static_assert(std::is_constructible_v<A, const context&>,
                "an actor needs a constructor taking const mesh::sdk::context&");
  return mesh_module{sizeof(mesh_module),
                     name,
                     capability,
                     &detail::glue<A>::create,
                     &detail::glue<A>::call,
                     &detail::glue<A>::cast,
                     &detail::glue<A>::destroy,
                     detail::declares_nonblocking<A> ? MESH_MODULE_NONBLOCKING : 0u,
                     &detail::glue<A>::on_message};
}

}  // namespace mesh::sdk

/// Exports a plugin named `NAME` (version `VERSION`) holding the given modules, e.g.
/// `MESH_PLUGIN("games", "1.0.0", mesh::sdk::module<Player>("Player", "game"))`.
#define MESH_PLUGIN(NAME, VERSION, ...)                                                      \
  extern "C" MESH_EXPORT uint32_t mesh_plugin_abi_version(void) noexcept {                   \
    return MESH_ABI_VERSION;                                                                 \
  }                                                                                          \
  extern "C" MESH_EXPORT const mesh_plugin_info* mesh_plugin_init(void) noexcept {           \
    static const mesh_module mesh_modules_[] = {__VA_ARGS__};                                \
    static const mesh_module* mesh_module_ptrs_[sizeof mesh_modules_ / sizeof(mesh_module)]; \
    static const mesh_plugin_info mesh_info_ = [] {                                          \
      for (size_t i = 0; i < sizeof mesh_modules_ / sizeof(mesh_module); ++i)                \
        mesh_module_ptrs_[i] = &mesh_modules_[i];                                            \
      return mesh_plugin_info{sizeof(mesh_plugin_info),                                      \
                              MESH_ABI_VERSION,                                              \
                              NAME,                                                          \
                              VERSION,                                                       \
                              sizeof mesh_modules_ / sizeof(mesh_module),                    \
                              mesh_module_ptrs_};                                            \
    }();                                                                                     \
    return &mesh_info_;                                                                      \
  }
