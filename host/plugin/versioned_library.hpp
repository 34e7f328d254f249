// The first steps every module loader takes (OBS/nginx habit): open the shared library with
// RTLD_NOW | RTLD_LOCAL, call its ABI version function before anything else and refuse another
// major or a newer minor, then resolve entry points by name. Used by the actor plugin loader
// (plugin_loader.hpp) and the placement plugin loader (placement/placement_plugin.hpp).
#pragma once

#include <boost/dll/shared_library.hpp>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <tl/expected.hpp>

namespace mesh::host {

/// What a loader expects of a module's ABI, and the words its refusals use.
struct abi_contract {
  /// The exported `uint32_t()` function reporting the module's packed ABI version.
  const char* version_symbol;
  /// Said after "missing entry point <version_symbol>", e.g. " (not a placement plugin?)".
  const char* missing_version_hint;
  /// The packed (major << 16 | minor) version the host implements.
  uint32_t host_version;
  /// How refusals name the module's ABI and the host's, e.g. "plugin ABI" and "host ABI".
  const char* module_abi_name;
  const char* host_abi_name;
};

/// A library whose ABI version has been checked, with the version it reported.
struct versioned_library {
  boost::dll::shared_library library;
  uint32_t abi_version = 0;
};

/// Opens `path` and checks its ABI version against `contract`; nothing else of the module is
/// called. Refusals are one sentence without the file name: "not a loadable shared library
/// (...)", "missing entry point ...", "<module ABI> X.Y is incompatible with <host ABI> A.B
/// (major must match, minor must be <= B)".
tl::expected<versioned_library, std::string> open_versioned_library(
    const std::filesystem::path& path, const abi_contract& contract);

/// The function `symbol` of `library`, or the refusal "missing entry point <symbol>".
template <class Fn>
tl::expected<Fn*, std::string> entry_point(const boost::dll::shared_library& library,
                                           const char* symbol) {
  if (!library.has(symbol)) return tl::unexpected(std::string("missing entry point ") + symbol);
  return &library.get<Fn>(symbol);
}

/// "major.minor" of a packed ABI version.
std::string abi_version_string(uint32_t packed);

/// Whether a name a module reports is usable: non-null, non-empty,
/// at most `max_size` bytes, no spaces and no control characters.
bool valid_module_name(const char* name, size_t max_size) noexcept;

}  // namespace mesh::host
