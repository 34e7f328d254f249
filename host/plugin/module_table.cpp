#include "plugin/module_table.hpp"

#include <algorithm>
#include <cstddef>

namespace mesh::host {

module_table::module_table(std::optional<std::vector<std::string>> capabilities)
    : serve_all_(!capabilities.has_value()) {
  if (capabilities)
    for (auto& c : *capabilities) served_.insert(c);
}

bool module_table::is_served(const std::string& capability) const {
  return serve_all_ || served_.count(capability) != 0;
}

tl::expected<void, std::string> module_table::add(std::shared_ptr<loaded_plugin> plugin) {
  for (const auto& m : plugin->modules) {
    auto it = modules_.find(m.name);
    if (it != modules_.end())
      return tl::unexpected("module " + m.name + " is already provided by " +
                            it->second->plugin_file);
  }
  const std::string file = plugin->path.filename().string();
  std::shared_ptr<const void> keep_alive = plugin;
  for (const auto& m : plugin->modules) {
    auto module = std::make_unique<actor_module>();
    module->abi = m.abi;
    module->nonblocking = m.abi->struct_size >= offsetof(mesh_module, flags) + sizeof m.abi->flags &&
                          (m.abi->flags & MESH_MODULE_NONBLOCKING) != 0;
    module->name = m.name;
    module->capability = m.capability;
    module->plugin_file = file;
    module->library = keep_alive;
    module->served = is_served(m.capability);
    ++declared_[m.capability];
    modules_.emplace(m.name, std::move(module));
  }
  return {};
}

void module_table::register_capabilities(const std::vector<std::string_view>& capabilities) {
  for (auto c : capabilities) served_.emplace(c);
  for (auto& [name, m] : modules_) m->served = is_served(m->capability);
}

tl::expected<actor_module*, wire::error> module_table::resolve(std::string_view capability,
                                                               std::string_view module) const {
  if (last_ != nullptr && last_->name == module && last_->capability == capability &&
      last_->served)
    return last_;
  auto it = modules_.find(module);
  if (it == modules_.end() || it->second->capability != capability) {
    if (declared_.find(capability) == declared_.end())
      return tl::unexpected(wire::error{wire::error_code::unknown_capability,
                                        "no module on this host declares capability \"" +
                                            std::string(capability) + "\""});
    if (it == modules_.end())
      return tl::unexpected(wire::error{
          wire::error_code::unknown_module, "no module \"" + std::string(module) + "\" is loaded"});
    return tl::unexpected(wire::error{wire::error_code::capability_mismatch,
                                      "module \"" + std::string(module) + "\" has capability \"" +
                                          it->second->capability + "\", not \"" +
                                          std::string(capability) + "\""});
  }
  actor_module* m = it->second.get();
  if (!m->served)
    return tl::unexpected(wire::error{
        wire::error_code::capability_not_served,
        "this host does not serve capability \"" + std::string(capability) + "\""});
  last_ = m;
  return m;
}

std::vector<std::string> module_table::served() const {
  std::set<std::string> out(served_.begin(), served_.end());
  if (serve_all_)
    for (auto& [cap, count] : declared_) out.insert(cap);
  return {out.begin(), out.end()};
}

std::vector<const actor_module*> module_table::modules() const {
  std::vector<const actor_module*> out;
  for (auto& [name, m] : modules_) out.push_back(m.get());
  std::sort(out.begin(), out.end(),
            [](const actor_module* a, const actor_module* b) { return a->name < b->name; });
  return out;
}

}  // namespace mesh::host
