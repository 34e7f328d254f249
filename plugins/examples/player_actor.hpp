// Module `PlayerActor` (capability `chat`): one chat user's inbox and status; the actor id is
// the player id (a chat user name, as in ChatActor's `user` and `join`).
//
// It has capability `chat`, not `game`, because the rooms (ChatActor) deliver to it: every host
// that serves a room can then also serve its members, so a chat-only host (node2 of
// tools/demo.sh) needs no other capability for the fan-out to work.
//
//   cast or call {"action": "deliver", "room": R, "user": U, "text": T, "seq": N}
//                     what a room sends each member for each post (a cast): appended to the
//                     inbox; a call replies {"received": n}
//   call {"action": "inbox", "last": N}
//                     replies {"player": id, "received": n, "messages": [{"room", "user",
//                     "text", "seq"}, ...]}: the last N (default 10) delivered, oldest first;
//                     `received` counts every delivery of this activation
//   call {"action": "set_status", "status": S, "visible": B}
//                     sets the status text (1..64 bytes) and whether rooms may read it
//                     (default true); replies {"player": id, "status": S, "visible": B}
//   call {"action": "status"}
//                     replies {"player": id, "status": S} (a new player is "online"); a player
//                     who is not visible refuses it (rejected), which a room's `who` reports as
//                     that member's error
//   call {"action": "crash"}  fails the actor
//
// The inbox keeps the last 100 messages (older ones are dropped). Nothing is persisted: a new
// activation starts with an empty inbox, "online" and visible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mesh/sdk.hpp>
#include <string>

namespace mesh::examples {

/// A chat user: an inbox the rooms fill, and a status the rooms ask for.
class player_actor {
 public:
  /// Handlers only compute in memory: the host may run them on its request thread.
  static constexpr bool nonblocking = true;

  /// Messages kept per inbox; a delivery beyond drops the oldest.
  static constexpr size_t max_inbox = 100;
  static constexpr size_t max_status_bytes = 64;

  explicit player_actor(const sdk::context& ctx);

  void call(const sdk::value& msg, sdk::writer& reply);

 private:
  struct message {
    std::string room;
    std::string user;
    std::string text;
    uint64_t seq;
  };

  void deliver(const sdk::value& msg, sdk::writer& reply);
  void inbox(const sdk::value& msg, sdk::writer& reply) const;

  std::string player_;
  std::deque<message> inbox_;
  uint64_t received_ = 0;
  std::string status_ = "online";
  bool visible_ = true;
};

}  // namespace mesh::examples
