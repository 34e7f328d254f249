#include "game_actor.hpp"

#include <cmath>
#include <stdexcept>
#include <string_view>

#include "field_checks.hpp"

namespace mesh::examples {

namespace {

double coordinate(const sdk::value& v, const char* name) {
  if (v.is_nil()) throw sdk::rejected(std::string("move needs \"") + name + "\"");
  const double d = v.as_double();
  if (!std::isfinite(d)) throw sdk::rejected(std::string("\"") + name + "\" must be finite");
  return d;
}

/// A position or velocity of a spawned player. The bound keeps positions finite for any
/// realistic run: |x| grows by at most 1e9 per tick.
double world_number(const sdk::value& v, const char* name, double fallback) {
  constexpr double limit = 1e9;
  const double d = v.as_double(fallback);
  if (!std::isfinite(d) || std::fabs(d) > limit)
    throw sdk::rejected(std::string("\"") + name + "\" must be a number of at most 1e9 in size");
  return d;
}

}  // namespace

game_actor::game_actor(const sdk::context& ctx)
    : host_(ctx.host()), player_(ctx.id()), start_level_(ctx.init_arg()["level"].as_int(1)) {
  if (start_level_ < 1 || start_level_ > max_start_level)
    throw sdk::rejected("\"level\" must be between 1 and " + std::to_string(max_start_level));
}

void game_actor::call(const sdk::value& msg, sdk::writer& reply) {
  const std::string_view action = msg["action"].as_string();
  // The player's actions first: `move` is what the benchmarks (W3, W7) measure.
  if (action == "move") {
    const double x = coordinate(msg["x"], "x");
    const double y = coordinate(msg["y"], "y");
    x_ = x;
    y_ = y;
  } else if (action == "score") {
    const sdk::value points = msg["points"];
    if (points.is_nil()) throw sdk::rejected("score needs \"points\"");
    int64_t score = 0;
    if (__builtin_add_overflow(score_, points.as_int(), &score))
      throw sdk::rejected("score would overflow");
    score_ = score < 0 ? 0 : score;
  } else if (action == "crash") {
    throw std::runtime_error("game actor crashed on request");
  } else if (action != "get") {
    if (!world_call(action, msg))
      throw sdk::rejected("unknown action \"" + std::string(action) +
                          "\" (expected move, score, get, spawn, start, pause, resume, state "
                          "or crash)");
    write_world(reply);
    return;
  }
  write_state(reply);
}

bool game_actor::world_call(std::string_view action, const sdk::value& msg) {
  if (action == "spawn") {
    spawn(msg);
  } else if (action == "start") {
    const int64_t period = msg["period_ms"].as_int(default_period_ms);
    if (period < min_period_ms || period > max_period_ms)
      throw sdk::rejected("\"period_ms\" must be between " + std::to_string(min_period_ms) +
                          " and " + std::to_string(max_period_ms));
    run(std::chrono::milliseconds(period));
  } else if (action == "pause") {
    pause();
  } else if (action == "resume") {
    if (!ticker_) run(period_);
  } else if (action != "state") {
    return false;
  }
  return true;
}

void game_actor::spawn(const sdk::value& msg) {
  const std::string player(bounded_string(msg["player"], "player", max_player_bytes));
  if (!msg["x"].is_number() || !msg["y"].is_number())
    throw sdk::rejected("spawn needs numbers \"x\" and \"y\"");
  const body b{world_number(msg["x"], "x", 0), world_number(msg["y"], "y", 0),
               world_number(msg["vx"], "vx", 0), world_number(msg["vy"], "vy", 0)};
  if (players_.size() == max_players && !players_.contains(player))
    throw sdk::rejected("the world has " + std::to_string(max_players) +
                        " players, the most it takes");
  players_[player] = b;
}

void game_actor::run(std::chrono::milliseconds period) {
  // One timer at most: a restart with a new period replaces the old one.
  pause();
  period_ = period;
  // Each period counts from the end of the previous tick (host::every), so a slow host delays
  // ticks rather than piling them up; the tick count, not the clock, drives the positions.
  ticker_ = host_.every(period_, [this] { tick(); });
}

void game_actor::pause() {
  if (!ticker_) return;
  host_.cancel(ticker_);  // no firing is delivered after this
  ticker_ = sdk::timer{};
}

void game_actor::tick() {
  ++tick_;
  for (auto& [name, b] : players_) {
    b.x += b.vx;
    b.y += b.vy;
  }
}

void game_actor::write_state(sdk::writer& reply) const {
  reply.map()
      .kv("player", player_)
      .kv("x", x_)
      .kv("y", y_)
      .kv("score", score_)
      .kv("level", start_level_ + score_ / points_per_level);
}

void game_actor::write_world(sdk::writer& reply) const {
  auto map = reply.map();
  map.kv("world", player_)
      .kv("tick", tick_)
      .kv("running", static_cast<bool>(ticker_))
      .kv("period_ms", static_cast<int64_t>(period_.count()));
  auto players = map.map("players");
  for (const auto& [name, b] : players_)
    players.map(name).kv("x", b.x).kv("y", b.y).kv("vx", b.vx).kv("vy", b.vy);
}

}  // namespace mesh::examples
