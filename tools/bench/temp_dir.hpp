// The bench's scratch directory: ready files and logs of the helpers it starts.
#pragma once

#include <filesystem>

namespace mesh::bench {

/// A fresh directory under /tmp, removed with its contents on destruction.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace mesh::bench
