#include "temp_dir.hpp"

#include <unistd.h>

#include <stdexcept>
#include <string>

namespace mesh::bench {

temp_dir::temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "mesh-bench-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace mesh::bench
