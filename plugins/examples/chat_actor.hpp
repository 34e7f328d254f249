// Module `ChatActor` (capability `chat`): one chat room; the actor id is the room name.
//
//   call {"action": "post", "user": U, "text": T}  appends a message; replies {"messages": n},
//                                                  the number of messages posted so far
//   call {"action": "history", "last": N}          replies {"messages": [{"user", "text",
//                                                  "seq"}, ...]}: the last N (default 10),
//                                                  oldest first
//   call {"action": "crash"}                       fails the actor
//
// History is bounded: the room keeps only its last 1000 messages in memory (older ones are
// dropped; `seq` keeps counting from 1). Nothing is persisted: a new activation starts empty.
// `user` must be 1..64 bytes and `text` 1..4096 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mesh/sdk.hpp>
#include <string>

namespace mesh::examples {

/// A chat room with a bounded in-memory history.
class chat_actor {
 public:
  /// Handlers only compute in memory: the host may run them on its request thread.
  static constexpr bool nonblocking = true;

  /// Messages kept per room; posting more drops the oldest.
  static constexpr size_t max_history = 1000;
  static constexpr size_t max_user_bytes = 64;
  static constexpr size_t max_text_bytes = 4096;

  explicit chat_actor(const sdk::context& ctx);

  void call(const sdk::value& msg, sdk::writer& reply);

 private:
  struct message {
    std::string user;
    std::string text;
    uint64_t seq;
  };

  void post(const sdk::value& msg, sdk::writer& reply);
  void history(const sdk::value& msg, sdk::writer& reply) const;

  std::deque<message> history_;
  uint64_t posted_ = 0;
};

}  // namespace mesh::examples
