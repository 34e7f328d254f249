// The host services (ABI 1.2): what an actor can ask of the host from inside its handlers, and
// the runtime's side of it (routing actors' requests, delivering replies and timer firings).
#include <mesh/wire/msgpack_reader.hpp>
#include <mesh/wire/object_walk.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <msgpack.hpp>

#include "runtime/runtime.hpp"
#include "runtime/turn.hpp"

namespace mesh::host {
namespace {

/// Writes `message` as one MessagePack string to a plugin's error output (if it gave one).
void write_error(mesh_output* out, std::string_view message) noexcept {
  if (out == nullptr || out->write == nullptr) return;
  try {
    msgpack::sbuffer buf;
    msgpack::pack(buf, message);
    out->write(out->host_state, reinterpret_cast<const uint8_t*>(buf.data()), buf.size());
  } catch (...) {
  }
}

/// The hops of a chain as "A/1 -> B/2", for messages and logs.
std::string describe_chain(wire::bytes_view chain) {
  std::string text;
  wire::msgpack_reader r(chain.data, chain.size);
  wire::msgpack_reader::item hop;
  while (!r.at_end() && r.next(hop)) {
    if (!text.empty()) text += " -> ";
    text.append(reinterpret_cast<const char*>(hop.bytes), hop.size);
  }
  return text;
}

constexpr uint64_t max_timer_ms = 30ull * 24 * 3600 * 1000;  // 30 days
constexpr size_t max_firings_per_turn = 4096;

/// Recycled objects of one type on this thread (none in sanitized builds, so that ASan still
/// sees every use after free): actors' requests and messages keep their buffers' capacity.
template <class T>
struct object_pool {
  static constexpr size_t keep = 1024;
#if defined(__SANITIZE_ADDRESS__)
  static constexpr bool enabled = false;
#else
  static constexpr bool enabled = true;
#endif
  std::vector<T*> free;
  object_pool() { free.reserve(keep); }  // give() then never allocates
  ~object_pool() {
    for (T* x : free) delete x;
  }
  /// A recycled object, or nullptr.
  T* take() noexcept {
    if (free.empty()) return nullptr;
    T* x = free.back();
    free.pop_back();
    return x;
  }
  /// Keeps `x` for take(), or deletes it when the pool is full (or disabled).
  void give(T* x) noexcept {
    if (enabled && free.size() < keep) {
      free.push_back(x);  // within the reserved capacity
    } else {
      delete x;
    }
  }
};
thread_local object_pool<actor_request> t_requests;
thread_local object_pool<actor_message> t_messages;

}  // namespace

actor_message* new_actor_message(mesh_message_kind type, bool success, uint64_t handle,
                                 uint64_t tag, uint64_t activation_no) {
  actor_message* m = t_messages.take();
  if (m == nullptr) return new actor_message(type, success, handle, tag, activation_no);
  std::string body = std::move(m->body);
  *m = actor_message(type, success, handle, tag, activation_no);
  m->body = std::move(body);
  return m;
}

void recycle_actor_message(actor_message* m) noexcept {
  m->body.clear();
  t_messages.give(m);
}

void actor_request_recycler::operator()(actor_request* r) const noexcept {
  std::string buffer = std::move(r->bytes);  // keeps its capacity for the next request
  buffer.clear();
  *r = actor_request{};
  r->bytes = std::move(buffer);
  t_requests.give(r);
}

actor_request_ptr new_actor_request() {
  actor_request* r = t_requests.take();
  return actor_request_ptr(r != nullptr ? r : new actor_request);
}

/// The functions behind host_services_table (a friend of the runtime).
struct host_services_impl {
  /// The turn `self` is running on this thread, or nullptr (with an error written).
  static runtime::turn* turn_of(void* self, mesh_output* error) noexcept {
    runtime::turn* t = runtime::turn::current();
    if (t == nullptr || t->actor != self) {
      write_error(error,
                  "host services may be used only inside the actor's own handlers, on the "
                  "thread running them");
      return nullptr;
    }
    return t;
  }

  static actor_extras& extras_of(activation* a) {
    if (a->extras == nullptr) a->extras = new actor_extras;
    return *a->extras;
  }

  static uint64_t refuse(runtime& rt, mesh_output* error, std::string_view why) noexcept {
    rt.stats_.services_refused.fetch_add(1, std::memory_order_relaxed);
    write_error(error, why);
    return 0;
  }

  static uint64_t send(void* self, bool is_call, const char* capability, const char* module,
                       mesh_bytes id, mesh_bytes payload, uint32_t timeout_ms, bool want_reply,
                       uint64_t tag, mesh_output* error) noexcept {
    runtime::turn* t = turn_of(self, error);
    if (t == nullptr) return 0;
    runtime& rt = t->rt;
    if (rt.router_ == nullptr) return refuse(rt, error, "this host routes no requests from actors");
    const std::string_view cap = capability != nullptr ? capability : "";
    const std::string_view mod = module != nullptr ? module : "";
    if (cap.empty() || mod.empty()) return refuse(rt, error, "a call needs a capability and a module");
    if (cap.size() > 1024 || mod.size() > 1024)
      return refuse(rt, error, "the capability or module name is longer than 1024 bytes");
    if (id.size == 0 || id.data == nullptr) return refuse(rt, error, "a call needs a non-empty actor id");
    if (id.size > 64 * 1024) return refuse(rt, error, "the actor id is longer than 65536 bytes");
    if (payload.size > rt.config_.max_reply_bytes)
      return refuse(rt, error,
                    "the payload of " + std::to_string(payload.size) +
                        " bytes exceeds the host's frame limit of " +
                        std::to_string(rt.config_.max_reply_bytes));
    if (payload.size != 0 && (payload.data == nullptr ||
                              !wire::is_single_object(payload.data, payload.size)))
      return refuse(rt, error, "the payload is not one well-formed MessagePack object");
    try {
      auto r = new_actor_request();
      r->kind = is_call ? actor_request::what::call : actor_request::what::cast;
      r->want_reply = want_reply;
      r->tag = tag;
      r->handle = rt.next_handle_.fetch_add(1, std::memory_order_relaxed);
      r->caller = t->actor->module;
      r->caller_activation = t->activation_no;
      // The callee gets what is left of this turn's request, unless the caller says otherwise.
      uint64_t ms = timeout_ms;
      if (ms == 0) {
        ms = wire::default_timeout_ms;
        if (t->request != nullptr && t->request->deadline != clock::time_point::max()) {
          const auto left = std::chrono::ceil<std::chrono::milliseconds>(t->request->deadline -
                                                                         clock::now());
          ms = static_cast<uint64_t>(std::max<int64_t>(1, left.count()));
        }
      }
      r->timeout_ms = static_cast<uint32_t>(std::min<uint64_t>(ms, wire::max_timeout_ms));
      const std::string_view caller_id = t->actor->id;
      const wire::bytes_view parent =
          t->request != nullptr ? t->request->chain : wire::bytes_view{};
      const uint32_t parent_len = t->request != nullptr ? t->request->chain_len : 0;
      r->caller_id_size = static_cast<uint32_t>(caller_id.size());
      r->capability_size = static_cast<uint32_t>(cap.size());
      r->module_size = static_cast<uint32_t>(mod.size());
      r->id_size = static_cast<uint32_t>(id.size);
      r->payload_size = static_cast<uint32_t>(payload.size);
      // One pass: the size computed once, each part copied in place (no append's checks), the
      // caller's hop ("Module/id", cut at max_chain_hop) with its MessagePack str header.
      const std::string_view module_name = t->actor->module->name;
      const size_t hop_size =
          std::min(wire::max_chain_hop, module_name.size() + 1 + caller_id.size());
      const size_t hop_header = hop_size < 32 ? 1 : hop_size < 256 ? 2 : 3;
      const size_t total = caller_id.size() + cap.size() + mod.size() + id.size + payload.size +
                           parent.size + hop_header + hop_size;
      r->bytes.resize(total);
      char* out = r->bytes.data();
      const auto put = [&out](const void* from, size_t n) {
        if (n != 0) std::memcpy(out, from, n);
        out += n;
      };
      put(caller_id.data(), caller_id.size());
      put(cap.data(), cap.size());
      put(mod.data(), mod.size());
      put(id.data, id.size);
      put(payload.data, payload.size);
      put(parent.data, parent.size);
      if (hop_header == 1) {
        *out++ = static_cast<char>(0xa0 | hop_size);
      } else if (hop_header == 2) {
        *out++ = static_cast<char>(0xd9);
        *out++ = static_cast<char>(hop_size);
      } else {
        *out++ = static_cast<char>(0xda);
        *out++ = static_cast<char>(hop_size >> 8);
        *out++ = static_cast<char>(hop_size);
      }
      const size_t from_module = std::min(module_name.size(), hop_size);
      put(module_name.data(), from_module);
      if (from_module < hop_size) {
        *out++ = '/';
        put(caller_id.data(), hop_size - from_module - 1);
      }
      r->chain_len = static_cast<uint8_t>(std::min<uint32_t>(parent_len + 1, 255));
      if (parent_len + 1 > wire::max_call_chain) {
        // Runaway recursion between actors: refused, and the caller hears why, as a message.
        r->refused = wire::error_code::chain_too_long;
        r->refusal = "call chain longer than " + std::to_string(wire::max_call_chain) +
                     " hops: " + describe_chain(r->chain()) + " -> " + std::string(mod) + "/" +
                     std::string(reinterpret_cast<const char*>(id.data), id.size);
        spdlog::warn("actor call refused: {}", r->refusal);
      }
      const uint64_t handle = r->handle;
      (is_call ? rt.stats_.actor_calls : rt.stats_.actor_casts)
          .fetch_add(1, std::memory_order_relaxed);
      t->outbox.push_back(std::move(r));
      return handle;
    } catch (const std::exception& e) {
      return refuse(rt, error, std::string("the host could not take the request: ") + e.what());
    }
  }

  static uint64_t defer_reply(void* self) noexcept {
    runtime::turn* t = turn_of(self, nullptr);
    if (t == nullptr) return 0;
    if (t->request == nullptr || t->request->kind != wire::op::call || t->deferred_token != 0)
      return refuse(t->rt, nullptr, "");
    try {
      actor_extras& x = extras_of(t->actor);
      if (x.deferred.size() >= t->rt.config_.max_deferred_per_actor) return refuse(t->rt, nullptr, "");
      const uint64_t token = x.next_token++;
      x.deferred.emplace_back(token, t->request);
      t->deferred_token = token;
      t->rt.stats_.deferred_replies.fetch_add(1, std::memory_order_relaxed);
      return token;
    } catch (...) {
      return refuse(t->rt, nullptr, "");
    }
  }

  static int reply(void* self, uint64_t token, mesh_status status, mesh_bytes reply,
                   mesh_output* error) noexcept {
    runtime::turn* t = turn_of(self, error);
    if (t == nullptr) return 0;
    runtime& rt = t->rt;
    static constexpr uint8_t nil = 0xc0;
    outcome result;
    result.activation = t->activation_no;
    if (status == MESH_STATUS_OK) {
      if (reply.size == 0) {
        result.reply = wire::bytes_view{&nil, 1};
      } else if (reply.size > rt.config_.max_reply_bytes) {
        return static_cast<int>(refuse(rt, error, "the reply exceeds the host's reply size limit"));
      } else if (reply.data == nullptr || !wire::is_single_object(reply.data, reply.size)) {
        return static_cast<int>(
            refuse(rt, error, "the reply is not one well-formed MessagePack object"));
      } else {
        result.reply = wire::bytes_view{reply.data, reply.size};
      }
      result.ok = true;
    } else if (status == MESH_STATUS_REJECTED) {
      result.code = wire::error_code::rejected;
      wire::msgpack_reader r(reply.data, reply.size);
      wire::msgpack_reader::item text;
      result.message = reply.size != 0 && r.next(text) && text.type == wire::msgpack_reader::kind::str
                           ? std::string_view(reinterpret_cast<const char*>(text.bytes), text.size)
                           : std::string_view("(the actor gave no message)");
    } else {
      return static_cast<int>(refuse(rt, error, "reply takes MESH_STATUS_OK or MESH_STATUS_REJECTED"));
    }
    task* deferred = rt.take_deferred(t->actor, token);
    if (deferred == nullptr)
      return static_cast<int>(
          refuse(rt, error, "no deferred call has this token (answered already, or never deferred)"));
    rt.finish(deferred, result, t->where);
    return 1;
  }

  static uint64_t timer_start(void* self, uint64_t due_ms, uint64_t period_ms, uint64_t tag,
                              mesh_output* error) noexcept {
    runtime::turn* t = turn_of(self, error);
    if (t == nullptr) return 0;
    runtime& rt = t->rt;
    if (due_ms > max_timer_ms || period_ms > max_timer_ms)
      return refuse(rt, error, "a timer's due time and period are at most 30 days");
    try {
      actor_extras& x = extras_of(t->actor);
      const uint64_t handle = rt.timers_.start(
          t->actor, t->activation_no, x.timer_head, x.timer_count,
          clock::now() + std::chrono::milliseconds(due_ms), std::chrono::milliseconds(period_ms),
          tag, rt.config_.max_timers_per_actor);
      if (handle == 0)
        return refuse(rt, error,
                      "the actor has " + std::to_string(rt.config_.max_timers_per_actor) +
                          " timers armed, the most one activation may have");
      // The dispatcher may be asleep until a later deadline: let it look again.
      if (t->where == runtime::ran_on::worker) rt.outbound_.wake();
      return handle;
    } catch (const std::exception& e) {
      return refuse(rt, error, std::string("the host could not arm the timer: ") + e.what());
    }
  }

  static int timer_cancel(void* self, uint64_t timer) noexcept {
    runtime::turn* t = turn_of(self, nullptr);
    if (t == nullptr || t->actor->extras == nullptr) return 0;
    actor_extras& x = *t->actor->extras;
    return t->rt.timers_.cancel(t->actor, x.timer_head, x.timer_count, timer) ? 1 : 0;
  }

  static void deactivate(void* self) noexcept {
    runtime::turn* t = turn_of(self, nullptr);
    if (t == nullptr) return;
    try {
      auto r = new_actor_request();
      r->kind = actor_request::what::deactivate;
      r->caller = t->actor->module;
      r->caller_activation = t->activation_no;
      r->bytes.assign(t->actor->id);
      r->caller_id_size = static_cast<uint32_t>(r->bytes.size());
      t->outbox.push_back(std::move(r));
    } catch (...) {
    }
  }

  static uint32_t remaining_ms(void* self) noexcept {
    runtime::turn* t = turn_of(self, nullptr);
    if (t == nullptr || t->request == nullptr || t->request->deadline == clock::time_point::max())
      return 0;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(t->request->deadline - clock::now());
    return left.count() > 0 ? static_cast<uint32_t>(left.count()) : 0;
  }
};

const mesh_host_services runtime::host_services_table = [] {
  mesh_host_services s{};
  s.struct_size = sizeof s;
  s.call = [](void* self, const char* capability, const char* module, mesh_bytes id,
              mesh_bytes payload, uint32_t timeout_ms, uint64_t tag, mesh_output* error) noexcept {
    return host_services_impl::send(self, true, capability, module, id, payload, timeout_ms, true,
                                    tag, error);
  };
  s.cast = [](void* self, const char* capability, const char* module, mesh_bytes id,
              mesh_bytes payload, uint32_t flags, uint64_t tag, mesh_output* error) noexcept {
    return host_services_impl::send(self, false, capability, module, id, payload, 0,
                                    (flags & MESH_HOST_CAST_ACK) != 0, tag, error);
  };
  s.defer_reply = [](void* self) noexcept { return host_services_impl::defer_reply(self); };
  s.reply = [](void* self, uint64_t token, mesh_status status, mesh_bytes reply,
               mesh_output* error) noexcept {
    return host_services_impl::reply(self, token, status, reply, error);
  };
  s.timer_start = [](void* self, uint64_t due_ms, uint64_t period_ms, uint64_t tag,
                     mesh_output* error) noexcept {
    return host_services_impl::timer_start(self, due_ms, period_ms, tag, error);
  };
  s.timer_cancel = [](void* self, uint64_t timer) noexcept {
    return host_services_impl::timer_cancel(self, timer);
  };
  s.deactivate = [](void* self) noexcept { host_services_impl::deactivate(self); };
  s.remaining_ms = [](void* self) noexcept { return host_services_impl::remaining_ms(self); };
  return s;
}();

// ---------------------------------------------------------------------------------------------
// The runtime's side

void runtime::flush_turn(turn& t) {
  if (t.outbox.empty()) return;
  if (t.where == ran_on::dispatcher) {
    for (auto& r : t.outbox) {
      if (r->kind == actor_request::what::deactivate) {
        retire_requests_.emplace_back(r->caller, std::string(r->caller_id()), r->caller_activation);
      } else {
        router_->route_from_actor(std::move(r));
      }
    }
  } else {
    for (auto& r : t.outbox) outbound_.push(r.release());
  }
  t.outbox.clear();
}

size_t runtime::run_outbound() {
  outbound_batch_.clear();
  outbound_.take_all(outbound_batch_);
  for (actor_request* raw : outbound_batch_) {
    actor_request_ptr r(raw);
    if (r->kind == actor_request::what::deactivate) {
      retire_requests_.emplace_back(r->caller, std::string(r->caller_id()), r->caller_activation);
    } else {
      router_->route_from_actor(std::move(r));
    }
  }
  if (!retire_requests_.empty()) retire_requested();
  return outbound_batch_.size();
}

void runtime::retire_requested() {
  size_t kept = 0;
  for (auto& request : retire_requests_) {
    auto& [module, id, number] = request;
    activation* a = module->actors.find(id, actor_directory::hash_of(id));
    if (a == nullptr || a->number.load(std::memory_order_relaxed) != number) continue;  // gone
    if (!try_retire(*module, a, MESH_DEACTIVATE_IDLE, 0))
      retire_requests_[kept++] = std::move(request);  // still busy: try again next turn
  }
  retire_requests_.resize(kept);
}

void runtime::deliver_reply(const actor_request& request, bool ok, wire::error_code code,
                            std::string_view body) {
  const std::string_view id = request.caller_id();
  activation* a = request.caller->actors.find(id, actor_directory::hash_of(id));
  if (a == nullptr) {
    stats_.messages_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  actor_message* m = new_actor_message(MESH_MESSAGE_REPLY, ok, request.handle, request.tag,
                                       request.caller_activation);
  m->code = code;
  m->body.assign(body);
  enqueue(a, m);
}

void runtime::run_timers(clock::time_point now) {
  firings_.clear();
  // A bounded batch per turn of the loop: a million timers due at once must not keep requests
  // waiting until all are queued (the rest are still due, so the loop does not sleep).
  timers_.take_due(now, firings_, max_firings_per_turn);
  for (const timer_firing& f : firings_) {
    actor_message* m = new_actor_message(MESH_MESSAGE_TIMER, true, f.handle, f.tag, f.activation_no);
    enqueue(f.actor, m);
  }
}

}  // namespace mesh::host
