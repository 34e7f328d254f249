#include "server/host_config.hpp"

#include <stdexcept>

namespace mesh::host {
namespace {

/// Splits "123abc" into 123 and "abc"; throws when there is no leading number.
std::pair<uint64_t, std::string> number_and_unit(const std::string& text, const char* what) {
  size_t used = 0;
  uint64_t n = 0;
  try {
    if (text.empty() || text[0] == '-') throw std::invalid_argument("negative");
    n = std::stoull(text, &used);
  } catch (const std::exception&) {
    throw std::invalid_argument(std::string("invalid ") + what + " \"" + text + "\"");
  }
  return {n, text.substr(used)};
}

}  // namespace

std::chrono::milliseconds parse_duration(const std::string& text) {
  auto [n, unit] = number_and_unit(text, "duration");
  using namespace std::chrono;
  if (unit.empty() || unit == "ms") return milliseconds(n);
  if (unit == "s") return seconds(n);
  if (unit == "m" || unit == "min") return minutes(n);
  if (unit == "h") return hours(n);
  throw std::invalid_argument("invalid duration \"" + text + "\" (use ms, s, m or h)");
}

size_t parse_size(const std::string& text) {
  auto [n, unit] = number_and_unit(text, "size");
  if (unit.empty() || unit == "b" || unit == "B") return n;
  if (unit == "k" || unit == "K" || unit == "KiB") return n << 10;
  if (unit == "m" || unit == "M" || unit == "MiB") return n << 20;
  throw std::invalid_argument("invalid size \"" + text + "\" (use k or m)");
}

}  // namespace mesh::host
