#include <mesh/security/curve_keys.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mesh::security {
namespace {

constexpr std::string_view z85_alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
constexpr std::string_view spaces = " \t\r";
/// Key files are a few lines; anything bigger is not one.
constexpr std::uintmax_t max_key_file_bytes = 1 << 20;

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(spaces);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(spaces) - b + 1);
}

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw std::runtime_error(where + ": " + what);
}

std::string read_text(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) fail(path.string(), "cannot read key file: " + ec.message());
  if (size > max_key_file_bytes) fail(path.string(), "not a key file (larger than 1 MiB)");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path.string(), std::string("cannot read key file: ") + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) fail(path.string(), "cannot read key file");
  return text.str();
}

/// Calls `line_fn(line_number, trimmed_line)` for every line that is neither blank nor a comment.
/// A line whose first word is a key is a key line even if the key starts with '#' (a Z85 letter).
template <class Fn>
void for_each_line(std::string_view text, Fn&& line_fn) {
  size_t number = 0;
  while (!text.empty()) {
    ++number;
    const auto end = text.find('\n');
    const std::string_view line = trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (line.empty()) continue;
    const std::string_view first = line.substr(0, line.find_first_of(spaces));
    if (line.front() == '#' && !is_z85_key(first)) continue;
    line_fn(number, line);
  }
}

void write_file(const std::filesystem::path& path, const std::string& text, mode_t mode) {
  const std::string tmp = path.string() + ".tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) fail(tmp, std::string("cannot create: ") + std::strerror(errno));
  ::fchmod(fd, mode);  // whatever the umask
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail(tmp, std::string("cannot write: ") + std::strerror(err));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0)
    fail(tmp, std::string("cannot write: ") + std::strerror(errno));
  std::filesystem::rename(tmp, path);
}

}  // namespace

bool is_z85_key(std::string_view text) noexcept {
  if (text.size() != z85_key_length) return false;
  for (char c : text)
    if (z85_alphabet.find(c) == std::string_view::npos) return false;
  return true;
}

key_pair generate_key_pair() {
  char pub[41] = {}, sec[41] = {};
  if (zmq_curve_keypair(pub, sec) != 0)
    throw std::runtime_error(std::string("cannot make a CURVE key pair: ") +
                             zmq_strerror(zmq_errno()));
  return {pub, sec};
}

void write_key_pair(const std::filesystem::path& path, const key_pair& pair,
                    std::string_view name) {
  if (!is_z85_key(pair.public_key) || !is_z85_key(pair.secret_key))
    throw std::invalid_argument("not a Z85 key pair");
  if (name.find_first_of("\n\r") != std::string_view::npos)
    throw std::invalid_argument("a key name cannot contain a line break");
  write_file(path,
             "# Mesh CurveZMQ key pair (docs/SECURITY.md). Keep it secret: anyone holding it is\n"
             "# this identity. The public half is in " +
                 path.filename().string() + ".pub.\n" + "public-key: " + pair.public_key +
                 "\nsecret-key: " + pair.secret_key + "\n",
             0600);
  std::string line = pair.public_key;
  if (!name.empty()) line += " " + std::string(name);
  write_file(path.string() + ".pub", line + "\n", 0644);
}

key_pair read_key_pair(const std::filesystem::path& path) {
  const std::string where = path.string();
  const std::string text = read_text(path);
  key_pair pair;
  for_each_line(text, [&](size_t number, std::string_view line) {
    const std::string at = where + ":" + std::to_string(number);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos)
      fail(at, "expected 'public-key: KEY' or 'secret-key: KEY' (is this a .pub file?)");
    const std::string_view field = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    std::string* slot = field == "public-key"   ? &pair.public_key
                        : field == "secret-key" ? &pair.secret_key
                                                : nullptr;
    if (slot == nullptr) fail(at, "unknown field '" + std::string(field) + "'");
    if (!slot->empty()) fail(at, std::string(field) + " given twice");
    if (!is_z85_key(value)) fail(at, std::string(field) + " is not a 40-character Z85 key");
    *slot = std::string(value);
  });
  if (pair.secret_key.empty()) fail(where, "no secret-key line: not a key pair file");
  if (pair.public_key.empty()) fail(where, "no public-key line: not a key pair file");
  char derived[41] = {};
  if (zmq_curve_public(derived, pair.secret_key.c_str()) != 0)
    fail(where, std::string("cannot check the key pair: ") + zmq_strerror(zmq_errno()));
  if (pair.public_key != derived) fail(where, "public-key does not belong to secret-key");
  return pair;
}

std::string read_public_key(const std::filesystem::path& path) {
  const std::string text = read_text(path);
  if (text.find("secret-key") != std::string::npos) return read_key_pair(path).public_key;
  const auto keys = parse_authorized_keys(text, path.string());
  if (keys.size() != 1)
    fail(path.string(), "expected exactly one public key, found " + std::to_string(keys.size()));
  return keys.front().public_key;
}

std::vector<authorized_key> parse_authorized_keys(std::string_view text,
                                                  const std::string& source) {
  std::vector<authorized_key> keys;
  for_each_line(text, [&](size_t number, std::string_view line) {
    const auto space = line.find_first_of(spaces);
    const std::string_view key = line.substr(0, space);
    if (!is_z85_key(key))
      fail(source + ":" + std::to_string(number),
           "expected a 40-character Z85 public key, then an optional name");
    keys.push_back({std::string(key),
                    space == std::string_view::npos ? "" : std::string(trim(line.substr(space)))});
  });
  return keys;
}

std::vector<authorized_key> read_authorized_keys(const std::filesystem::path& path) {
  return parse_authorized_keys(read_text(path), path.string());
}

}  // namespace mesh::security
