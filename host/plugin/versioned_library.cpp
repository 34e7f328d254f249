#include "plugin/versioned_library.hpp"

#include <dlfcn.h>

namespace mesh::host {

tl::expected<versioned_library, std::string> open_versioned_library(
    const std::filesystem::path& path, const abi_contract& contract) {
  versioned_library out;
  boost::dll::fs::error_code ec;
  out.library.load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec || !out.library.is_loaded()) {
    const char* why = ::dlerror();
    return tl::unexpected("not a loadable shared library (" +
                          (why != nullptr ? std::string(why) : ec.message()) + ")");
  }
  if (!out.library.has(contract.version_symbol))
    return tl::unexpected(std::string("missing entry point ") + contract.version_symbol +
                          contract.missing_version_hint);
  out.abi_version = out.library.get<uint32_t()>(contract.version_symbol)();
  const uint32_t host_minor = contract.host_version & 0xffff;
  if ((out.abi_version >> 16) != (contract.host_version >> 16) ||
      (out.abi_version & 0xffff) > host_minor)
    return tl::unexpected(std::string(contract.module_abi_name) + " " +
                          abi_version_string(out.abi_version) + " is incompatible with " +
                          contract.host_abi_name + " " + abi_version_string(contract.host_version) +
                          " (major must match, minor must be <= " + std::to_string(host_minor) +
                          ")");
  return out;
}

std::string abi_version_string(uint32_t packed) {
  return std::to_string(packed >> 16) + "." + std::to_string(packed & 0xffff);
}

bool valid_module_name(const char* name, size_t max_size) noexcept {
  if (name == nullptr || *name == '\0') return false;
  for (size_t n = 0; name[n] != '\0'; ++n) {
    const unsigned char c = static_cast<unsigned char>(name[n]);
    if (n >= max_size || c < 0x21 || c == 0x7f) return false;  // printable, no spaces
  }
  return true;
}

}  // namespace mesh::host
