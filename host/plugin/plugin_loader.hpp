// Loads actor plugins (shared libraries built against plugin-sdk) with Boost.DLL.
#pragma once

#include <mesh/plugin_abi.h>

#include <filesystem>
#include <memory>
#include <string>
#include <tl/expected.hpp>
#include <vector>

#include "plugin/versioned_library.hpp"  // abi_version_string

namespace mesh::host {

/// One module a plugin exports.
struct plugin_module {
  const mesh_module* abi;  ///< owned by the plugin; valid while the library is loaded
  std::string name;
  std::string capability;
};

/// A loaded, version-checked plugin. The library stays loaded for as long as this object (or a
/// shared_ptr to it held by a module) lives.
struct loaded_plugin {
  std::filesystem::path path;
  std::string name;
  std::string version;
  uint32_t abi_version = 0;
  std::vector<plugin_module> modules;
  std::shared_ptr<void> library;  ///< type-erased boost::dll::shared_library
};

/// Loads `path` (RTLD_NOW | RTLD_LOCAL), checks the ABI version before calling anything else,
/// then calls the entry point and validates what it returns. The error is one sentence naming
/// the reason (the caller adds the file name).
tl::expected<std::shared_ptr<loaded_plugin>, std::string> load_plugin(
    const std::filesystem::path& path);

}  // namespace mesh::host
