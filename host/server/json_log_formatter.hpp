// `meshd --log-format json`: one JSON object per log line, {"ts", "level", "msg"}.
#pragma once

#include <spdlog/formatter.h>

#include <memory>

namespace mesh::host {

/// Formats a spdlog message as `{"ts":"2024-05-01T12:00:00.123Z","level":"info","msg":"..."}`
/// and a newline. `ts` is UTC; `msg` is escaped for JSON (quotes, backslashes, control bytes),
/// and bytes that are not valid UTF-8 become U+FFFD, so every line parses.
class json_log_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

}  // namespace mesh::host
