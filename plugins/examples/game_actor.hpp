// Module `GameActor` (capability `game`): one player's position, score and level.
//
//   init_arg {"level": N}                        the starting level, 1..1000000 (default 1)
//   call {"action": "move", "x": X, "y": Y}      moves to (X, Y): finite numbers
//   call {"action": "score", "points": N}        adds N points (an integer, may be negative;
//                                                the score never drops below 0)
//   call {"action": "get"}
//   call {"action": "crash"}                     fails the actor
//
// Every call replies {"player": id, "x": X, "y": Y, "score": S, "level": L}. The level is the
// starting level plus one for every 100 points of score.
#pragma once

#include <cstdint>
#include <mesh/sdk.hpp>
#include <string>

namespace mesh::examples {

/// A player in a game: the actor id is the player id.
class game_actor {
 public:
  /// Handlers only compute in memory: the host may run them on its request thread.
  static constexpr bool nonblocking = true;

  explicit game_actor(const sdk::context& ctx);

  void call(const sdk::value& msg, sdk::writer& reply);

 private:
  /// Points needed for each level above the starting one.
  static constexpr int64_t points_per_level = 100;
  /// Highest starting level accepted (keeps the level arithmetic far from overflow).
  static constexpr int64_t max_start_level = 1'000'000;

  void write_state(sdk::writer& reply) const;

  std::string player_;
  double x_ = 0;
  double y_ = 0;
  int64_t score_ = 0;
  int64_t start_level_;
};

}  // namespace mesh::examples
