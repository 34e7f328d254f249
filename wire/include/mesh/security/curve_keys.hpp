// CurveZMQ keys and the files that hold them (docs/SECURITY.md#key-files).
//
// A key is 32 bytes, written as 40 characters of Z85. Three text files:
//   PATH       a key pair, mode 0600: `public-key: Z85` and `secret-key: Z85` lines
//   PATH.pub   one line `Z85 [name]`: the public half, ready to append to an authorized-keys file
//   authorized keys: one `Z85 [name]` per line; blank lines and `#` comments are skipped
// Every loader throws std::runtime_error naming the file and the line on anything else, so a
// bad key file stops a host at start-up instead of letting it start unauthenticated.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace mesh::security {

/// Length of a key in Z85 text.
inline constexpr std::size_t z85_key_length = 40;

/// A CurveZMQ key pair as Z85 text (what ZMQ_CURVE_PUBLICKEY / SECRETKEY accept).
struct key_pair {
  std::string public_key;
  std::string secret_key;
};

/// A public key allowed in, with the name written after it (may be empty).
struct authorized_key {
  std::string public_key;
  std::string name;
};

/// Whether `text` is 40 characters of the Z85 alphabet (a well-formed key).
bool is_z85_key(std::string_view text) noexcept;

/// A fresh key pair from libzmq's zmq_curve_keypair. Throws if libzmq lacks CURVE.
key_pair generate_key_pair();

/// Writes `pair` to `path` (created with mode 0600, replaced if present) and its public half
/// to `path` + ".pub" (mode 0644) with `name` after the key. Throws std::runtime_error.
void write_key_pair(const std::filesystem::path& path, const key_pair& pair,
                    std::string_view name = {});

/// Reads a key pair file written by write_key_pair and checks that the public key belongs to
/// the secret key. Throws std::runtime_error naming the file and what is wrong.
key_pair read_key_pair(const std::filesystem::path& path);

/// Reads a public key: a `.pub` file (its first key line), or a key pair file (its public key).
std::string read_public_key(const std::filesystem::path& path);

/// Parses authorized keys text (`source` names it in errors). Throws std::runtime_error.
std::vector<authorized_key> parse_authorized_keys(std::string_view text, const std::string& source);

/// Reads an authorized-keys file. Throws std::runtime_error.
std::vector<authorized_key> read_authorized_keys(const std::filesystem::path& path);

}  // namespace mesh::security
