#include "game_actor.hpp"

#include <cmath>
#include <stdexcept>
#include <string_view>

namespace mesh::examples {

namespace {

double coordinate(const sdk::value& v, const char* name) {
  if (v.is_nil()) throw sdk::rejected(std::string("move needs \"") + name + "\"");
  const double d = v.as_double();
  if (!std::isfinite(d)) throw sdk::rejected(std::string("\"") + name + "\" must be finite");
  return d;
}

}  // namespace

game_actor::game_actor(const sdk::context& ctx)
    : player_(ctx.id()), start_level_(ctx.init_arg()["level"].as_int(1)) {
  if (start_level_ < 1 || start_level_ > max_start_level)
    throw sdk::rejected("\"level\" must be between 1 and " + std::to_string(max_start_level));
}

void game_actor::call(const sdk::value& msg, sdk::writer& reply) {
  const std::string_view action = msg["action"].as_string();
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
    throw sdk::rejected("unknown action \"" + std::string(action) +
                        "\" (expected move, score, get or crash)");
  }
  write_state(reply);
}

void game_actor::write_state(sdk::writer& reply) const {
  reply.map()
      .kv("player", player_)
      .kv("x", x_)
      .kv("y", y_)
      .kv("score", score_)
      .kv("level", start_level_ + score_ / points_per_level);
}

}  // namespace mesh::examples
