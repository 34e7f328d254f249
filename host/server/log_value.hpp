// One value of a `event: subject key=value ...` log line (docs/OPERATIONS.md#logs).
#pragma once

#include <string>
#include <string_view>

namespace mesh::host {

/// `v` as a log value: bare when it has no space, quote, `=`, backslash or control byte,
/// otherwise in double quotes with `"` and `\` escaped and control bytes as \xNN. Empty: "".
inline std::string log_value(std::string_view v) {
  bool plain = !v.empty();
  for (unsigned char c : v)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) plain = false;
  if (plain) return std::string(v);
  std::string out = "\"";
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < ' ' || c == 0x7f) {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

}  // namespace mesh::host
