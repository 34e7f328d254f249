// Module `GameActor` (capability `game`): a game world and its own player; the actor id names
// both (the world "w1" is also the player "w1").
//
// The player (the original example: one player's position, score and level):
//   init_arg {"level": N}                        the starting level, 1..1000000 (default 1)
//   call {"action": "move", "x": X, "y": Y}      moves to (X, Y): finite numbers
//   call {"action": "score", "points": N}        adds N points (an integer, may be negative;
//                                                the score never drops below 0)
//   call {"action": "get"}
//   call {"action": "crash"}                     fails the actor
// Each of these replies {"player": id, "x": X, "y": Y, "score": S, "level": L}. The level is the
// starting level plus one for every 100 points of score.
//
// The world: players that move by their velocity on every tick of a periodic timer.
//   call {"action": "spawn", "player": P, "x": X, "y": Y, "vx": VX, "vy": VY}
//                     puts P (1..64 bytes) at (X, Y) with velocity (VX, VY) in units per tick
//                     (finite, |value| <= 1e9; VX, VY default 0); spawning P again replaces it
//   call {"action": "start", "period_ms": P}
//                     starts ticking every P ms (10..60000, default 100); when running, restarts
//                     with the new period
//   call {"action": "pause"}                     stops ticking (cancels the timer)
//   call {"action": "resume"}                    ticks again with the last period
//   call {"action": "state"}
// The world actions reply {"world": id, "tick": n, "running": bool, "period_ms": P,
// "players": {P: {"x", "y", "vx", "vy"}}}. A tick moves every player by exactly its velocity
// (x += vx, y += vy, in player order), so the positions after n ticks are known exactly.
//
// The timer lives and dies with the activation and does not keep it alive: a world that no one
// calls is deactivated after the host's idle timeout like any actor, and the next request finds
// a new activation: tick 0, no spawned players, paused. Nothing is persisted.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mesh/sdk.hpp>
#include <string>
#include <string_view>

namespace mesh::examples {

/// A player in a game and the world it runs: the actor id names both.
class game_actor {
 public:
  /// Handlers only compute in memory: the host may run them on its request thread.
  static constexpr bool nonblocking = true;

  /// Players a world holds: each tick moves all of them.
  static constexpr size_t max_players = 1000;
  static constexpr size_t max_player_bytes = 64;
  static constexpr int64_t min_period_ms = 10;
  static constexpr int64_t max_period_ms = 60'000;
  static constexpr int64_t default_period_ms = 100;

  explicit game_actor(const sdk::context& ctx);

  void call(const sdk::value& msg, sdk::writer& reply);

 private:
  /// Points needed for each level above the starting one.
  static constexpr int64_t points_per_level = 100;
  /// Highest starting level accepted (keeps the level arithmetic far from overflow).
  static constexpr int64_t max_start_level = 1'000'000;

  struct body {
    double x, y, vx, vy;
  };

  /// Runs `action` if it is one of the world's; false when it is not.
  bool world_call(std::string_view action, const sdk::value& msg);
  void write_state(sdk::writer& reply) const;
  void write_world(sdk::writer& reply) const;
  void spawn(const sdk::value& msg);
  void run(std::chrono::milliseconds period);
  void pause();
  void tick();

  sdk::host host_;
  std::string player_;
  double x_ = 0;
  double y_ = 0;
  int64_t score_ = 0;
  int64_t start_level_;

  std::map<std::string, body> players_;  ///< sorted: ticks move them in a fixed order
  uint64_t tick_ = 0;
  std::chrono::milliseconds period_{default_period_ms};
  sdk::timer ticker_;  ///< armed while the world runs
};

}  // namespace mesh::examples
