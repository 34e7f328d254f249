#include "server/completion_queue.hpp"

#include <spdlog/spdlog.h>

#include "server/log_value.hpp"

namespace mesh::host {

completion_queue::~completion_queue() {
  std::vector<inbound*> leftover;
  take_all(leftover);
  for (inbound* in : leftover) delete in;
}

void completion_queue::encode(inbound& in, const outcome& result) const noexcept {
  in.outcome = static_cast<uint8_t>(result.ok ? outcome_ok : outcome_of(result.code));
  if (in.origin != nullptr) {
    // An actor's own call: its caller takes the reply object itself, no envelope.
    if (in.kind != wire::op::call) return;
    try {
      if (result.ok) {
        in.reply.rebuild(result.reply.data, result.reply.size);
      } else {
        in.reply.rebuild(result.message.data(), result.message.size());
      }
    } catch (...) {
      in.outcome = static_cast<uint8_t>(outcome_of(wire::error_code::internal));
    }
    return;
  }
  if (in.kind == wire::op::call) {
    thread_local wire::buffer buf;  // one per thread that completes calls
    buf.clear();
    try {
      if (result.ok) {
        const activation& a = *in.actor;
        const wire::actor_ref ref{
            host_name_, a.module->name,
            wire::bytes_view{reinterpret_cast<const uint8_t*>(a.id.data()), a.id.size()},
            result.activation};
        wire::encode_call_reply(buf, in.rid, ref, result.reply);
      } else {
        wire::encode_error(buf, in.rid, result.code, result.message);
      }
      in.reply.rebuild(buf.data(), buf.size());
    } catch (...) {
      // Left empty: the dispatcher answers with an internal error.
    }
  } else if (!result.ok) {
    spdlog::debug("cast failed: {} id={} code={} msg={}", in.actor->module->name,
                  log_value(in.actor->id), wire::to_string(result.code),
                  log_value(result.message));
  }
}

void completion_queue::complete_on_worker(task* t, const outcome& result) noexcept {
  auto* in = static_cast<inbound*>(t);
  encode(*in, result);
  from_workers_.push(in);
}

void completion_queue::complete_inline(task* t, const outcome& result) noexcept {
  auto* in = static_cast<inbound*>(t);
  encode(*in, result);
  from_dispatcher_.push_back(in);
}

void completion_queue::take_all(std::vector<inbound*>& out) {
  from_workers_.take_all(out);
  out.insert(out.end(), from_dispatcher_.begin(), from_dispatcher_.end());
  from_dispatcher_.clear();
}

}  // namespace mesh::host
