#include "chat_actor.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string_view>

#include "field_checks.hpp"

namespace mesh::examples {

namespace {

/// What a room casts to each member's PlayerActor for each post.
struct delivery {
  std::string action = "deliver";
  std::string room;
  std::string user;
  std::string text;
  uint64_t seq = 0;
  MSGPACK_DEFINE_MAP(action, room, user, text, seq)
};

/// One member's part of a `who` answer: its status, or why its call failed.
struct member_status {
  bool ok = false;
  std::string status;   ///< the status when ok, else the error code
  std::string message;  ///< the error message when not ok

  template <class Packer>
  void msgpack_pack(Packer& pk) const {
    if (ok) {
      pk.pack_map(1);
      pk.pack("status");
      pk.pack(status);
    } else {
      pk.pack_map(2);
      pk.pack("error");
      pk.pack(status);
      pk.pack("message");
      pk.pack(message);
    }
  }
};

/// A `who` in progress: the deferred call, and the members' answers as they come back (in any
/// order; the room answers when the last one is in).
struct who_gathering {
  sdk::deferred call;
  std::string room;
  size_t waiting = 0;
  std::map<std::string, member_status> members;

  template <class Packer>
  void msgpack_pack(Packer& pk) const {
    pk.pack_map(2);
    pk.pack("room");
    pk.pack(room);
    pk.pack("members");
    pk.pack(members);
  }
};

/// The timeout of the members' status calls: what is left of the `who` call's deadline less a
/// margin (a quarter, at most 500 ms) for the answer to travel back, so that a member that times
/// out is still reported before the caller gives up. 0 (no deadline) lets the host choose.
std::chrono::milliseconds member_timeout(std::chrono::milliseconds left) {
  if (left.count() <= 0) return std::chrono::milliseconds(0);
  const auto margin = std::min(left / 4, std::chrono::milliseconds(500));
  return std::max(left - margin, std::chrono::milliseconds(1));
}

}  // namespace

chat_actor::chat_actor(const sdk::context& ctx) : host_(ctx.host()), room_(ctx.id()) {}

void chat_actor::call(const sdk::value& msg, sdk::writer& reply) {
  const std::string_view action = msg["action"].as_string();
  if (action == "post") {
    post(msg, reply);
  } else if (action == "history") {
    history(msg, reply);
  } else if (action == "join") {
    const std::string_view player = bounded_string(msg["player"], "player", max_user_bytes);
    if (members_.size() == max_members && !members_.contains(std::string(player)))
      throw sdk::rejected("the room has " + std::to_string(max_members) +
                          " members, the most it takes");
    members_.emplace(player);
    reply.map().kv("members", members_.size());
  } else if (action == "leave") {
    members_.erase(std::string(bounded_string(msg["player"], "player", max_user_bytes)));
    reply.map().kv("members", members_.size());
  } else if (action == "members") {
    reply.map().kv("members", members_);
  } else if (action == "who") {
    who(reply);
  } else if (action == "crash") {
    throw std::runtime_error("chat actor crashed on request");
  } else {
    throw sdk::rejected("unknown action \"" + std::string(action) +
                        "\" (expected post, history, join, leave, members, who or crash)");
  }
}

void chat_actor::post(const sdk::value& msg, sdk::writer& reply) {
  const std::string_view user = bounded_string(msg["user"], "user", max_user_bytes);
  const std::string_view text = bounded_string(msg["text"], "text", max_text_bytes);
  if (history_.size() == max_history) history_.pop_front();
  history_.push_back(message{std::string(user), std::string(text), ++posted_});
  // Fan-out: casts, so a post costs the room no waiting however many members it has; each
  // member's host delivers in the order the room sent.
  const delivery d{"deliver", room_, std::string(user), std::string(text), posted_};
  for (const std::string& member : members_) {
    try {
      host_.cast("chat", "PlayerActor", member, d);
    } catch (const sdk::rejected&) {
      // The host refused to send (it routes no requests from actors): this member misses the
      // message, as an unreachable one does; the post itself stands.
    }
  }
  reply.map().kv("messages", posted_);
}

void chat_actor::history(const sdk::value& msg, sdk::writer& reply) const {
  const int64_t last = msg["last"].as_int(10);
  if (last < 0) throw sdk::rejected("\"last\" must not be negative");
  const size_t count = std::min(history_.size(), static_cast<size_t>(last));
  auto map = reply.map();
  sdk::writer& list = map.key("messages");
  list.packer().pack_array(static_cast<uint32_t>(count));
  for (auto it = history_.end() - static_cast<std::ptrdiff_t>(count); it != history_.end(); ++it)
    list.map().kv("user", it->user).kv("text", it->text).kv("seq", it->seq);
}

void chat_actor::who(sdk::writer& reply) {
  auto gathering = std::make_shared<who_gathering>();
  gathering->room = room_;
  if (members_.empty()) {
    gathering->msgpack_pack(reply.packer());
    return;
  }
  gathering->call = host_.defer();
  gathering->waiting = members_.size();
  const std::chrono::milliseconds timeout = member_timeout(host_.remaining());
  const std::map<std::string, std::string> ask = {{"action", "status"}};
  // Every reply comes back as a later turn of this room, one at a time: the gathering needs no
  // lock, and the room keeps serving posts meanwhile. The host answers every call (with the
  // status or an error, at the latest at the timeout), so the `who` always gets its answer.
  for (const std::string& member : members_) {
    auto answered = [this, gathering, member](const sdk::result& r) {
      member_status& m = gathering->members[member];
      m.ok = r.ok();
      if (r.ok()) {
        m.status = r.reply()["status"].is_string() ? r.reply()["status"].as_string() : "";
      } else {
        m.status = r.error_code();
        m.message = r.error_message();
      }
      if (--gathering->waiting == 0) host_.reply(gathering->call, *gathering);
    };
    try {
      host_.call("chat", "PlayerActor", member, ask, std::move(answered), timeout);
    } catch (const sdk::rejected& e) {
      // Refused before it left: this member's answer is the refusal, at once.
      gathering->members[member] = member_status{false, "refused", e.what()};
      if (--gathering->waiting == 0) host_.reply(gathering->call, *gathering);
    }
  }
}

}  // namespace mesh::examples
