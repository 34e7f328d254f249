#include "player_actor.hpp"

#include <algorithm>
#include <stdexcept>
#include <string_view>

#include "chat_actor.hpp"
#include "field_checks.hpp"

namespace mesh::examples {

player_actor::player_actor(const sdk::context& ctx) : player_(ctx.id()) {}

void player_actor::call(const sdk::value& msg, sdk::writer& reply) {
  const std::string_view action = msg["action"].as_string();
  if (action == "deliver") {
    deliver(msg, reply);
  } else if (action == "inbox") {
    inbox(msg, reply);
  } else if (action == "status") {
    if (!visible_) throw sdk::rejected("player \"" + player_ + "\" does not share its status");
    reply.map().kv("player", player_).kv("status", status_);
  } else if (action == "set_status") {
    const std::string_view status = bounded_string(msg["status"], "status", max_status_bytes);
    const bool visible = msg["visible"].as_bool(true);  // checked before anything changes
    status_ = status;
    visible_ = visible;
    reply.map().kv("player", player_).kv("status", status_).kv("visible", visible_);
  } else if (action == "crash") {
    throw std::runtime_error("player actor crashed on request");
  } else {
    throw sdk::rejected("unknown action \"" + std::string(action) +
                        "\" (expected deliver, inbox, status, set_status or crash)");
  }
}

void player_actor::deliver(const sdk::value& msg, sdk::writer& reply) {
  // The same bounds as a room's: whoever sends a delivery, the inbox stays bounded.
  const std::string_view room = bounded_string(msg["room"], "room", chat_actor::max_room_bytes);
  const std::string_view user = bounded_string(msg["user"], "user", chat_actor::max_user_bytes);
  const std::string_view text = bounded_string(msg["text"], "text", chat_actor::max_text_bytes);
  const int64_t seq = msg["seq"].as_int(0);
  if (seq < 0) throw sdk::rejected("\"seq\" must not be negative");
  if (inbox_.size() == max_inbox) inbox_.pop_front();
  inbox_.push_back(
      message{std::string(room), std::string(user), std::string(text), static_cast<uint64_t>(seq)});
  ++received_;
  reply.map().kv("received", received_);
}

void player_actor::inbox(const sdk::value& msg, sdk::writer& reply) const {
  const int64_t last = msg["last"].as_int(10);
  if (last < 0) throw sdk::rejected("\"last\" must not be negative");
  const size_t count = std::min(inbox_.size(), static_cast<size_t>(last));
  auto map = reply.map();
  map.kv("player", player_).kv("received", received_);
  sdk::writer& list = map.key("messages");
  list.packer().pack_array(static_cast<uint32_t>(count));
  for (auto it = inbox_.end() - static_cast<std::ptrdiff_t>(count); it != inbox_.end(); ++it)
    list.map().kv("room", it->room).kv("user", it->user).kv("text", it->text).kv("seq", it->seq);
}

}  // namespace mesh::examples
