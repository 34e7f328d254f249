#include "chat_actor.hpp"

#include <algorithm>
#include <stdexcept>
#include <string_view>

namespace mesh::examples {

namespace {

std::string_view bounded_string(const sdk::value& v, const char* name, size_t max_bytes) {
  const std::string_view s = v.as_string();
  if (s.empty() || s.size() > max_bytes)
    throw sdk::rejected(std::string("\"") + name + "\" must be a string of 1.." +
                        std::to_string(max_bytes) + " bytes");
  return s;
}

}  // namespace

chat_actor::chat_actor(const sdk::context&) {}

void chat_actor::call(const sdk::value& msg, sdk::writer& reply) {
  const std::string_view action = msg["action"].as_string();
  if (action == "post") {
    post(msg, reply);
  } else if (action == "history") {
    history(msg, reply);
  } else if (action == "crash") {
    throw std::runtime_error("chat actor crashed on request");
  } else {
    throw sdk::rejected("unknown action \"" + std::string(action) +
                        "\" (expected post, history or crash)");
  }
}

void chat_actor::post(const sdk::value& msg, sdk::writer& reply) {
  const std::string_view user = bounded_string(msg["user"], "user", max_user_bytes);
  const std::string_view text = bounded_string(msg["text"], "text", max_text_bytes);
  if (history_.size() == max_history) history_.pop_front();
  history_.push_back(message{std::string(user), std::string(text), ++posted_});
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

}  // namespace mesh::examples
