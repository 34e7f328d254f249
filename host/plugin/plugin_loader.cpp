#include "plugin/plugin_loader.hpp"

#include <set>

namespace mesh::host {
namespace {

tl::unexpected<std::string> refuse(std::string reason) { return tl::unexpected(std::move(reason)); }

/// Module names and capabilities: at most 128 printable bytes.
bool valid_name(const char* s) { return valid_module_name(s, 128); }

constexpr abi_contract plugin_contract{MESH_PLUGIN_ABI_VERSION_SYMBOL,
                                       " (not built with the Mesh plugin SDK?)", MESH_ABI_VERSION,
                                       "plugin ABI", "host ABI"};

}  // namespace

tl::expected<std::shared_ptr<loaded_plugin>, std::string> load_plugin(
    const std::filesystem::path& path) {
  auto opened = open_versioned_library(path, plugin_contract);
  if (!opened) return refuse(std::move(opened.error()));
  const uint32_t version = opened->abi_version;
  auto library = std::make_shared<boost::dll::shared_library>(std::move(opened->library));
  const auto init_fn = entry_point<const mesh_plugin_info*()>(*library, MESH_PLUGIN_INIT_SYMBOL);
  if (!init_fn) return refuse(init_fn.error());
  const mesh_plugin_info* info = (*init_fn)();
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
