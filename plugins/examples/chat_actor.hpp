// Module `ChatActor` (capability `chat`): one chat room; the actor id is the room name.
//
//   call {"action": "post", "user": U, "text": T}  appends a message and casts it to every
//                                                  member's PlayerActor (fan-out); replies
//                                                  {"messages": n}, the number of messages
//                                                  posted so far
//   call {"action": "history", "last": N}          replies {"messages": [{"user", "text",
//                                                  "seq"}, ...]}: the last N (default 10),
//                                                  oldest first
//   call {"action": "join", "player": P}           makes player P a member; replies
//   call {"action": "leave", "player": P}          {"members": n} (joining twice or leaving
//                                                  as a stranger changes nothing)
//   call {"action": "members"}                     replies {"members": [P, ...]}, sorted
//   call {"action": "who"}                         asks every member's PlayerActor for its
//                                                  status and answers once all have answered:
//                                                  {"room": id, "members": {P: {"status": S}
//                                                  or {"error": code, "message": M}}}
//   call {"action": "crash"}                       fails the actor
//
// Members are PlayerActor ids (capability `chat`, so every host serving rooms serves them too):
// a post reaches each member as a cast {"action": "deliver", "room", "user", "text", "seq"},
// which the room does not wait for (a member that cannot be reached misses the message; the
// host logs it). `who` is answered later (defer): the room keeps handling posts while the
// statuses come in, and a member whose call fails (refused, crashed, timed out, on a host that
// is gone) is reported with the error code instead of holding the answer back. Each status call
// gets what is left of the `who` call's deadline minus a margin, so that even a member that
// times out is reported before the caller gives up.
//
// History is bounded: the room keeps only its last 1000 messages in memory (older ones are
// dropped; `seq` keeps counting from 1), and at most 1000 members. Nothing is persisted: a new
// activation starts empty, without members. `user` and `player` must be 1..64 bytes and `text`
// 1..4096 bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mesh/sdk.hpp>
#include <set>
#include <string>

namespace mesh::examples {

/// A chat room with a bounded in-memory history.
class chat_actor {
 public:
  /// Handlers only compute in memory: the host may run them on its request thread.
  static constexpr bool nonblocking = true;

  /// Messages kept per room; posting more drops the oldest.
  static constexpr size_t max_history = 1000;
  /// Members per room: each post costs one cast per member.
  static constexpr size_t max_members = 1000;
  static constexpr size_t max_user_bytes = 64;
  static constexpr size_t max_text_bytes = 4096;
  /// A room name is an actor id: the host's limit on ids.
  static constexpr size_t max_room_bytes = 64 * 1024;

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
  void who(sdk::writer& reply);

  sdk::host host_;
  std::string room_;
  std::deque<message> history_;
  uint64_t posted_ = 0;
  std::set<std::string> members_;
};

}  // namespace mesh::examples
