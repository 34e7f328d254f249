#include "runtime/runtime.hpp"

#include "runtime/turn.hpp"

#include <mesh/wire/object_walk.hpp>

#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace mesh::host {
namespace {

/// The host-owned buffer behind mesh_output for one worker thread.
struct output_buffer {
  std::vector<uint8_t> bytes;
  size_t limit = 0;
  bool overflow = false;

  void reset(size_t max) {
    bytes.clear();
    limit = max;
    overflow = false;
  }

  static int write(void* state, const uint8_t* data, size_t size) noexcept {
    auto* self = static_cast<output_buffer*>(state);
    if (self->overflow || self->bytes.size() + size > self->limit) {
      self->overflow = true;
      return 1;
    }
    try {
      self->bytes.insert(self->bytes.end(), data, data + size);
    } catch (...) {
      self->overflow = true;
      return 1;
    }
    return 0;
  }

  mesh_output as_output() noexcept { return mesh_output{this, &output_buffer::write}; }
};

output_buffer& thread_output() {
  thread_local output_buffer buffer;
  return buffer;
}

/// The error message a plugin wrote: one msgpack string, else a fallback.
std::string_view message_of(const output_buffer& out) {
  const auto& b = out.bytes;
  if (b.empty()) return "(the actor gave no message)";
  const uint8_t tag = b[0];
  size_t len = 0, head = 0;
  if (tag >= 0xa0 && tag <= 0xbf) {
    len = tag & 0x1f;
    head = 1;
  } else if (tag == 0xd9 && b.size() >= 2) {
    len = b[1];
    head = 2;
  } else if (tag == 0xda && b.size() >= 3) {
    len = (size_t{b[1]} << 8) | b[2];
    head = 3;
  } else if (tag == 0xdb && b.size() >= 5) {
    len = (size_t{b[1]} << 24) | (size_t{b[2]} << 16) | (size_t{b[3]} << 8) | b[4];
    head = 5;
  } else {
    return "(the actor's error message is not a MessagePack string)";
  }
  if (head + len > b.size()) return "(the actor's error message is truncated)";
  return {reinterpret_cast<const char*>(b.data() + head), len};
}

int64_t to_ns(clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

constexpr uint8_t msgpack_nil = 0xc0;

/// How many slow handlers demote a nonblocking module (one can be a page fault on first use).
constexpr uint32_t slow_handlers_to_demote = 3;

/// A new slot for actor `id` of `module`, allocated together with a copy of the id's
/// characters (right after the struct), so the id costs no allocation of its own.
activation* new_activation(actor_module& module, std::string_view id) {
  void* memory = ::operator new(sizeof(activation) + id.size());
  auto* a = new (memory) activation;
  char* chars = reinterpret_cast<char*>(a + 1);
  std::memcpy(chars, id.data(), id.size());
  a->module = &module;
  a->id = std::string_view(chars, id.size());
  return a;
}

}  // namespace

namespace {

/// Frees a slot made by new_activation.
void delete_activation(activation* a) noexcept {
  delete a->extras;
  a->~activation();
  ::operator delete(a);
}

}  // namespace

runtime::runtime(runtime_config config, completion_sink& sink)
    : config_(config), sink_(sink) {
  const unsigned n = std::max(1u, config_.workers);
  workers_.reserve(n);
  for (unsigned i = 0; i < n; ++i) workers_.emplace_back([this] { worker_loop(); });
}

runtime::~runtime() {
  if (!workers_.empty()) shutdown();
  outbound_batch_.clear();
  outbound_.take_all(outbound_batch_);
  for (actor_request* r : outbound_batch_) delete r;
}

void runtime::submit(actor_module& module, std::string_view id, task* t) {
  const uint64_t hash = actor_directory::hash_of(id);
  activation* a = module.actors.find(id, hash);
  if (a == nullptr) {
    if (module.actors.empty() &&
        std::find(modules_seen_.begin(), modules_seen_.end(), &module) == modules_seen_.end())
      modules_seen_.push_back(&module);
    a = new_activation(module, id);
    module.actors.insert(hash, a);
    ++live_;
  }
  enqueue(a, t);
}

void runtime::enqueue(activation* a, task* t) {
  actor_module& module = *a->module;
  t->actor = a;
  t->next = nullptr;
  bool schedule = false;
  a->lock.lock();
  if (a->tail != nullptr) {
    a->tail->next = t;
  } else {
    a->head = t;
  }
  a->tail = t;
  if (!a->scheduled) {
    a->scheduled = true;
    schedule = true;
  }
  a->lock.unlock();
  if (!schedule) return;
  if (module.nonblocking && config_.inline_budget.count() > 0 &&
      !module.demoted.load(std::memory_order_relaxed)) {
    inline_.push_back(a);
  } else {
    ready_.push(a);
  }
}

size_t runtime::run_inline(bool same_turn) {
  // Requests the workers' turns made go first: an actor that ran there and now runs here keeps
  // its requests in the order it made them.
  run_outbound();
  if (inline_.empty()) return 0;
  batch_start_ = clock::now();
  // The thread's CPU time is a system call: read once per turn of the caller's loop. Between
  // two rounds of one turn the thread only ran the host's own code (it did not sleep in a poll),
  // so the earlier sample still tells a handler's CPU time from time it lost to others.
  if (!same_turn || !usage_valid_) {
    batch_usage_ = thread_usage();
    usage_at_ = batch_start_;
    usage_valid_ = true;
  }
  const clock::time_point until = batch_start_ + config_.inline_budget;
  size_t ran = 0, i = 0;
  // `now` is the end of the previous handler: one clock read per handler, none per slot.
  for (clock::time_point now = batch_start_; i < inline_.size() && now < until; ++i)
    ran += run_slot_inline(inline_[i], until, now);
  for (; i < inline_.size(); ++i) hand_to_workers(inline_[i]);  // out of time: the rest
  inline_.clear();
  // An actor that asked to be deactivated in this batch is idle now, before new mail comes.
  if (!retire_requests_.empty()) retire_requested();
  return ran;
}

runtime::usage runtime::thread_usage() noexcept {
  rusage r{};
  ::getrusage(RUSAGE_THREAD, &r);
  const auto us = [](const timeval& t) { return int64_t{t.tv_sec} * 1'000'000 + t.tv_usec; };
  return usage{us(r.ru_utime) + us(r.ru_stime), r.ru_nvcsw};
}

bool runtime::handler_was_slow(clock::time_point started, clock::time_point ended) const noexcept {
  // A handler that took long on the clock either computed for long, blocked (slept), or merely
  // lost the CPU to other threads, which is no reason to demote it. Its CPU time is at least
  // the batch's CPU time minus the clock time before it started. A voluntary context switch is
  // weaker evidence of blocking (a contended malloc lock or a page fault also sleeps briefly), so
  // it counts only for a handler that took four times the limit. Measured here: glibc's malloc
  // sometimes spends 1-4 ms of CPU inside an ordinary handler (consolidating free chunks).
  const usage now = thread_usage();
  const int64_t before_us =
      std::chrono::duration_cast<std::chrono::microseconds>(started - usage_at_).count();
  if (now.cpu_us - batch_usage_.cpu_us - before_us > config_.slow_handler.count()) return true;
  return now.voluntary_switches != batch_usage_.voluntary_switches &&
         ended - started > 4 * config_.slow_handler;
}

size_t runtime::run_slot_inline(activation* a, clock::time_point until, clock::time_point& now) {
  actor_module& module = *a->module;
  a->lock.lock();
  task* t = a->head;
  a->head = a->tail = nullptr;
  a->lock.unlock();
  size_t ran = 0;
  clock::time_point before = now;
  while (t != nullptr) {
    task* next = t->next;
    run_task(a, t, before, ran_on::dispatcher);
    ++ran;
    t = next;
    const clock::time_point after = clock::now();
    if (after - before > config_.slow_handler && handler_was_slow(before, after) &&
        ++module.slow_handlers == slow_handlers_to_demote) {
      module.demoted.store(true, std::memory_order_relaxed);
      spdlog::warn(
          "slow nonblocking handler: module={} took_us={} limit_us={} times={}; its actors run "
          "on the workers from now on",
          module.name, std::chrono::duration_cast<std::chrono::microseconds>(after - before).count(),
          config_.slow_handler.count(), slow_handlers_to_demote);
    }
    before = now = after;
    if (t != nullptr && (after >= until || module.demoted.load(std::memory_order_relaxed))) break;
  }
  a->lock.lock();
  if (t != nullptr) {  // out of time (or demoted): the rest of the mail goes first, to a worker
    task* last = t;
    while (last->next != nullptr) last = last->next;
    last->next = a->head;
    if (a->head == nullptr) a->tail = last;
    a->head = t;
  }
  if (a->head == nullptr) {
    a->scheduled = false;
    a->lock.unlock();
  } else if (t == nullptr && now < until && !module.demoted.load(std::memory_order_relaxed)) {
    a->lock.unlock();
    inline_.push_back(a);  // mail that came during its turn (a reply, its own call): later here
  } else {
    a->lock.unlock();
    hand_to_workers(a);
  }
  return ran;
}

bool runtime::try_retire(actor_module& module, activation* a, mesh_deactivation_reason reason,
                         int64_t idle_before_ns, bool* had_instance) {
  a->lock.lock();
  if (a->scheduled || a->head != nullptr ||
      (idle_before_ns != 0 && a->last_active.load(std::memory_order_relaxed) > idle_before_ns)) {
    a->lock.unlock();
    return false;
  }
  a->scheduled = true;  // nobody else may schedule it now; only the dispatcher pushes mail
  a->retiring = true;
  a->retire_reason = reason;
  // Its timers die with it, here on the dispatcher, so that none fires into a freed slot.
  if (a->extras != nullptr) timers_.cancel_all(a->extras->timer_head, a->extras->timer_count);
  // Not scheduled: no worker runs it, so its instance is settled (and after the push below a
  // worker may free `a` at any time).
  if (had_instance != nullptr) *had_instance = a->instance != nullptr;
  a->lock.unlock();
  module.actors.erase(a, actor_directory::hash_of(a->id));
  --live_;
  retiring_.fetch_add(1, std::memory_order_relaxed);
  ready_.push(a);
  return true;
}

size_t runtime::retire_idle(clock::duration idle) {
  const int64_t before = to_ns(clock::now() - idle);
  size_t retired = 0;
  std::vector<activation*> candidates;
  for (actor_module* m : modules_seen_) {
    candidates.clear();
    m->actors.for_each([&](activation* a) {
      if (a->last_active.load(std::memory_order_relaxed) <= before) candidates.push_back(a);
    });
    for (activation* a : candidates)
      if (try_retire(*m, a, MESH_DEACTIVATE_IDLE, before)) ++retired;
  }
  return retired;
}

runtime::retired_count runtime::retire_if(
    const std::function<bool(const actor_module&, std::string_view)>& lost,
    mesh_deactivation_reason reason, std::vector<actor_key>* busy_keys) {
  retired_count count;
  if (busy_keys != nullptr) busy_keys->clear();
  std::vector<activation*> candidates;
  for (actor_module* m : modules_seen_) {
    candidates.clear();
    m->actors.for_each([&](activation* a) {
      if (lost(*m, a->id)) candidates.push_back(a);
    });
    for (activation* a : candidates) {
      // A slot whose instance a crash discarded is dropped without a hook (finish_retire
      // counts only instances), so it is not counted as deactivated.
      bool had_instance = false;
      if (!try_retire(*m, a, reason, 0, &had_instance)) {
        ++count.busy;
        if (busy_keys != nullptr) busy_keys->emplace_back(m, a->id);
      } else if (had_instance) {
        ++count.deactivated;
      } else {
        ++count.empty;
      }
    }
  }
  return count;
}

void runtime::shutdown() {
  if (workers_.empty()) return;
  for (activation* a : inline_) hand_to_workers(a);
  inline_.clear();
  std::vector<activation*> candidates;
  for (bool pending = true; pending;) {
    pending = false;
    for (actor_module* m : modules_seen_) {
      candidates.clear();
      m->actors.for_each([&](activation* a) { candidates.push_back(a); });
      for (activation* a : candidates)
        if (!try_retire(*m, a, MESH_DEACTIVATE_SHUTDOWN, 0)) pending = true;
    }
    if (pending) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  while (retiring_.load() != 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ready_.close();
  for (auto& w : workers_) w.join();
  workers_.clear();
}

void runtime::worker_loop() {
  activation* a = nullptr;
  while (ready_.pop(a)) run_slot(a);
}

void runtime::run_slot(activation* a) {
  if (a->retiring) {
    finish_retire(a);
    return;
  }
  a->lock.lock();
  task* t = a->head;
  a->head = a->tail = nullptr;
  a->lock.unlock();
  while (t != nullptr) {
    task* next = t->next;
    run_task(a, t, clock::now(), ran_on::worker);
    t = next;
  }
  a->lock.lock();
  if (a->head == nullptr) {
    a->scheduled = false;
    a->lock.unlock();  // from here on the dispatcher may retire `a`: do not touch it
  } else {
    a->lock.unlock();
    ready_.push(a);  // more mail arrived: go to the back of the queue, for fairness
  }
}

void runtime::run_task(activation* a, task* t, clock::time_point now, ran_on where) {
  if (t->message) {
    run_message(a, static_cast<actor_message*>(t), where);
    return;
  }
  const actor_module& module = *a->module;
  outcome result;
  if (t->kind == wire::op::call && now > t->deadline) {
    result.code = wire::error_code::timeout;
    result.message = "the call's deadline passed while it waited for the actor";
    finish(t, result, where);
    return;
  }
  output_buffer& out = thread_output();
  mesh_output sink_out = out.as_output();
  turn current(*this, a, t, where);
  if (a->instance == nullptr) {
    out.reset(config_.max_reply_bytes);
    const std::string_view id = t->actor->id;
    mesh_actor_context ctx{};
    ctx.struct_size = sizeof ctx;
    ctx.id = mesh_bytes{reinterpret_cast<const uint8_t*>(id.data()), id.size()};
    ctx.init_arg = mesh_bytes{t->init_arg.data, t->init_arg.size};
    ctx.module = module.name.c_str();
    ctx.capability = module.capability.c_str();
    ctx.activation = next_activation_.fetch_add(1, std::memory_order_relaxed);
    ctx.services = &host_services_table;
    ctx.self = a;
    ctx.host = config_.host_name.c_str();
    current.activation_no = ctx.activation;
    a->instance = module.abi->create(&ctx, &sink_out);
    if (a->instance == nullptr) {
      stats_.activation_failures.fetch_add(1, std::memory_order_relaxed);
      result.code = wire::error_code::activation_failed;
      result.message = message_of(out);
      // What the constructor armed or asked for dies with it.
      if (a->extras != nullptr) timers_.cancel_all(a->extras->timer_head, a->extras->timer_count);
      current.discard_outbox();
      finish(t, result, where);
      return;
    }
    a->number.store(ctx.activation, std::memory_order_relaxed);
    a->module->instances.fetch_add(1, std::memory_order_relaxed);
    stats_.activations.fetch_add(1, std::memory_order_relaxed);
  }
  current.activation_no = a->number.load(std::memory_order_relaxed);
  out.reset(config_.max_reply_bytes);
  const mesh_bytes payload{t->payload.data, t->payload.size};
  const mesh_status status = t->kind == wire::op::call
                                 ? module.abi->call(a->instance, payload, &sink_out)
                                 : module.abi->cast(a->instance, payload, &sink_out);
  a->last_active.store(to_ns(now), std::memory_order_relaxed);
  result.activation = a->number.load(std::memory_order_relaxed);
  // A call the handler deferred is answered by reply(), in this turn or a later one, unless the
  // handler failed after deferring it (then it is answered below, with that failure).
  const bool deferred = current.deferred_token != 0;
  if (deferred && status != MESH_STATUS_OK) take_deferred(a, current.deferred_token);
  bool crashed = false;
  switch (status) {
    case MESH_STATUS_OK:
      if (t->kind == wire::op::cast) {
        result.ok = true;
      } else if (deferred) {
        break;
      } else if (out.overflow) {
        result.code = wire::error_code::bad_reply;
        result.message = "the actor's reply exceeds the host's reply size limit";
      } else if (out.bytes.empty()) {
        result.ok = true;
        result.reply = wire::bytes_view{&msgpack_nil, 1};
      } else if (!wire::is_single_object(out.bytes.data(), out.bytes.size())) {
        result.code = wire::error_code::bad_reply;
        result.message = "the actor's reply is not one well-formed MessagePack object";
        crashed = true;
      } else {
        result.ok = true;
        result.reply = wire::bytes_view{out.bytes.data(), out.bytes.size()};
      }
      break;
    case MESH_STATUS_REJECTED:
      result.code = wire::error_code::rejected;
      result.message = message_of(out);
      break;
    case MESH_STATUS_ACTOR_ERROR:
      result.code = wire::error_code::actor_error;
      result.message = message_of(out);
      crashed = true;
      break;
    default:
      result.code = wire::error_code::actor_error;
      result.message = "the plugin returned an unknown status";
      crashed = true;
      break;
  }
  if (crashed) {
    // The failure message lives in `out`, which the crash path does not touch.
    discard_instance(a, where, result.message);
  }
  flush_turn(current);
  if (t->kind == wire::op::call && deferred && !crashed && status == MESH_STATUS_OK) return;
  finish(t, result, where);
}

void runtime::discard_instance(activation* a, ran_on where, std::string_view why) {
  // mesh's semantics: a failed actor is dropped; the next request gets a fresh one.
  a->module->abi->destroy(a->instance, MESH_DEACTIVATE_CRASHED);
  a->instance = nullptr;
  a->number.store(0, std::memory_order_relaxed);
  a->module->instances.fetch_sub(1, std::memory_order_relaxed);
  stats_.deactivations_crash.fetch_add(1, std::memory_order_relaxed);
  settle_extras(a, wire::error_code::actor_error,
                std::string("the actor failed before it replied: ").append(why), where);
}

void runtime::settle_extras(activation* a, wire::error_code code, std::string_view message,
                            ran_on where) {
  actor_extras* x = a->extras;
  if (x == nullptr) return;
  timers_.cancel_all(x->timer_head, x->timer_count);
  std::vector<std::pair<uint64_t, task*>> deferred;
  deferred.swap(x->deferred);
  outcome result;
  result.code = code;
  result.message = message;
  for (auto& [token, t] : deferred) finish(t, result, where);
}

task* runtime::take_deferred(activation* a, uint64_t token) noexcept {
  actor_extras* x = a->extras;
  if (x == nullptr) return nullptr;
  for (size_t i = 0; i < x->deferred.size(); ++i) {
    if (x->deferred[i].first != token) continue;
    task* t = x->deferred[i].second;
    x->deferred[i] = x->deferred.back();
    x->deferred.pop_back();
    return t;
  }
  return nullptr;
}

void runtime::run_message(activation* a, actor_message* m, ran_on where) {
  const actor_module& module = *a->module;
  struct recycle {
    actor_message* m;
    ~recycle() { recycle_actor_message(m); }
  } owned{m};
  const bool has_handler = module.abi->struct_size >= MESH_MODULE_SIZE_1_1 + sizeof(void*) &&
                           module.abi->on_message != nullptr;
  // A message never activates an actor: it belongs to the activation that made the call or
  // armed the timer, and is dropped if that one is gone.
  if (!has_handler || a->instance == nullptr ||
      a->number.load(std::memory_order_relaxed) != m->for_activation) {
    stats_.messages_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  bool periodic = false;
  if (m->what == MESH_MESSAGE_TIMER) {
    actor_extras* x = a->extras;
    if (x == nullptr || !timers_.deliver(m->handle, x->timer_head, x->timer_count, periodic))
      return;  // cancelled after it fell due: not delivered
    stats_.timer_firings.fetch_add(1, std::memory_order_relaxed);
  }
  output_buffer& out = thread_output();
  out.reset(config_.max_reply_bytes);
  mesh_output sink_out = out.as_output();
  turn current(*this, a, nullptr, where);
  current.activation_no = m->for_activation;
  const std::string_view code = m->ok ? std::string_view() : wire::to_string(m->code);
  mesh_message msg{};
  msg.struct_size = sizeof msg;
  msg.kind = m->what;
  msg.handle = m->handle;
  msg.tag = m->tag;
  msg.ok = m->ok ? 1 : 0;
  msg.error_code = m->ok || m->what != MESH_MESSAGE_REPLY ? nullptr : code.data();
  msg.body = mesh_bytes{reinterpret_cast<const uint8_t*>(m->body.data()), m->body.size()};
  const mesh_status status = module.abi->on_message(a->instance, &msg, &sink_out);
  const clock::time_point ended = clock::now();
  // A reply is the actor's own work going on; a timer is not (it keeps no actor alive).
  if (m->what == MESH_MESSAGE_REPLY) a->last_active.store(to_ns(ended), std::memory_order_relaxed);
  if (status != MESH_STATUS_OK && status != MESH_STATUS_REJECTED) {
    discard_instance(a, where, message_of(out));
  } else if (periodic) {
    timers_.rearm(m->handle, ended);  // the next period starts when this firing's turn ended
  }
  flush_turn(current);
}

void runtime::finish_retire(activation* a) {
  if (a->instance != nullptr) {
    {
      // The deactivation hook may still use the services (a last cast, say); what it asks for
      // goes out like any turn's requests.
      turn current(*this, a, nullptr, ran_on::worker);
      current.activation_no = a->number.load(std::memory_order_relaxed);
      a->module->abi->destroy(a->instance, a->retire_reason);
      flush_turn(current);
    }
    settle_extras(a,
                  a->retire_reason == MESH_DEACTIVATE_SHUTDOWN ? wire::error_code::shutting_down
                                                               : wire::error_code::actor_error,
                  a->retire_reason == MESH_DEACTIVATE_SHUTDOWN
                      ? "the host is stopping; the actor was deactivated before it replied"
                      : "the actor was deactivated before it replied",
                  ran_on::worker);
    a->module->instances.fetch_sub(1, std::memory_order_relaxed);
    auto& counter = a->retire_reason == MESH_DEACTIVATE_IDLE        ? stats_.deactivations_idle
                    : a->retire_reason == MESH_DEACTIVATE_REBALANCE ? stats_.deactivations_rebalance
                                                                    : stats_.deactivations_shutdown;
    counter.fetch_add(1, std::memory_order_relaxed);
  }
  delete_activation(a);
  retiring_.fetch_sub(1, std::memory_order_release);
}

}  // namespace mesh::host
