#include "plugin/plugin_loader.hpp"

#include <dlfcn.h>

#include <boost/dll/shared_library.hpp>
#include <set>

namespace mesh::host {
namespace {

tl::unexpected<std::string> refuse(std::string reason) { return tl::unexpected(std::move(reason)); }

bool valid_name(const char* s) {
  if (s == nullptr || *s == '\0') return false;
  size_t n = 0;
  for (; s[n] != '\0'; ++n) {
    const unsigned char c = static_cast<unsigned char>(s[n]);
    if (n >= 128 || c < 0x21 || c == 0x7f) return false;  // printable, no spaces
  }
  return true;
}

}  // namespace

std::string abi_version_string(uint32_t packed) {
  return std::to_string(packed >> 16) + "." + std::to_string(packed & 0xffff);
}

tl::expected<std::shared_ptr<loaded_plugin>, std::string> load_plugin(
    const std::filesystem::path& path) {
  auto library = std::make_shared<boost::dll::shared_library>();
  boost::dll::fs::error_code ec;
  library->load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, ec);
  if (ec || !library->is_loaded()) {
    const char* why = ::dlerror();
    return refuse("not a loadable shared library (" +
                  (why != nullptr ? std::string(why) : ec.message()) + ")");
  }
  if (!library->has(MESH_PLUGIN_ABI_VERSION_SYMBOL))
    return refuse("missing entry point " MESH_PLUGIN_ABI_VERSION_SYMBOL
                  " (not built with the Mesh plugin SDK?)");
  const auto version_fn =
      library->get<uint32_t()>(MESH_PLUGIN_ABI_VERSION_SYMBOL);
  const uint32_t version = version_fn();
  const uint32_t major = version >> 16, minor = version & 0xffff;
  if (major != MESH_ABI_VERSION_MAJOR || minor > MESH_ABI_VERSION_MINOR)
    return refuse("plugin ABI " + abi_version_string(version) + " is incompatible with host ABI " +
                  abi_version_string(MESH_ABI_VERSION) + " (major must match, minor must be <= " +
                  std::to_string(MESH_ABI_VERSION_MINOR) + ")");
  if (!library->has(MESH_PLUGIN_INIT_SYMBOL))
    return refuse("missing entry point " MESH_PLUGIN_INIT_SYMBOL);
  const auto init_fn = library->get<const mesh_plugin_info*()>(MESH_PLUGIN_INIT_SYMBOL);
  const mesh_plugin_info* info = init_fn();
  if (info == nullptr) return refuse(MESH_PLUGIN_INIT_SYMBOL " returned no plugin description");
  if (info->struct_size < sizeof(mesh_plugin_info))
    return refuse("plugin description is too small (" + std::to_string(info->struct_size) +
                  " bytes)");
  if (info->abi_version != version)
    return refuse("plugin description claims ABI " + abi_version_string(info->abi_version) +
                  " but the plugin reports " + abi_version_string(version));
  if (info->module_count == 0 || info->modules == nullptr) return refuse("plugin exports no module");
  if (info->module_count > 1024) return refuse("plugin declares too many modules");

  auto plugin = std::make_shared<loaded_plugin>();
  plugin->path = path;
  plugin->name = info->plugin_name != nullptr ? info->plugin_name : path.filename().string();
  plugin->version = info->plugin_version != nullptr ? info->plugin_version : "";
  plugin->abi_version = version;
  std::set<std::string> seen;
  for (size_t i = 0; i < info->module_count; ++i) {
    const mesh_module* m = info->modules[i];
    if (m == nullptr) return refuse("module #" + std::to_string(i) + " is null");
    if (m->struct_size < MESH_MODULE_SIZE_1_0)
      return refuse("module #" + std::to_string(i) + " has a too small description");
    if (!valid_name(m->name))
      return refuse("module #" + std::to_string(i) + " has an empty or unprintable name");
    if (!valid_name(m->capability))
      return refuse("module " + std::string(m->name) + " has an empty or unprintable capability");
    if (m->create == nullptr || m->call == nullptr || m->cast == nullptr || m->destroy == nullptr)
      return refuse("module " + std::string(m->name) + " lacks a handler");
    if (!seen.insert(m->name).second)
      return refuse("module name " + std::string(m->name) + " appears twice in the plugin");
    plugin->modules.push_back(plugin_module{m, m->name, m->capability});
  }
  plugin->library = std::move(library);
  return plugin;
}

}  // namespace mesh::host
