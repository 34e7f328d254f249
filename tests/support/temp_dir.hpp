// A temporary directory for a test, and the file helpers tests use in it. Needs no running host:
// unit tests include it too.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>

namespace mesh::test {

/// A fresh directory under /tmp, removed with everything in it on destruction.
class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "mesh-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Copies a plugin into `dir` the way users should: to a temporary name, then rename.
inline void install_plugin(const std::filesystem::path& plugin, const std::filesystem::path& dir) {
  const auto tmp = dir / (plugin.filename().string() + ".part");
  std::filesystem::copy_file(plugin, tmp, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::rename(tmp, dir / plugin.filename());
}

}  // namespace mesh::test
