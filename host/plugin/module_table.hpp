// The modules a host has loaded and the capabilities it serves. Owned by the dispatcher thread.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <unordered_map>
#include <vector>

#include "plugin/plugin_loader.hpp"
#include "runtime/runtime.hpp"
#include <mesh/wire/envelope.hpp>

namespace mesh::host {

/// Maps module names to actor_modules and decides which capabilities this host serves: every
/// capability its plugins declare (when started without a list), or the configured list, plus
/// any registered at run time.
class module_table {
 public:
  /// `capabilities`: the served list, or nullopt to serve whatever the plugins declare.
  explicit module_table(std::optional<std::vector<std::string>> capabilities);

  /// Adds every module of `plugin`, or none: a module name already loaded refuses the plugin.
  tl::expected<void, std::string> add(std::shared_ptr<loaded_plugin> plugin);

  /// Adds capabilities to the served set (mesh's register_capabilities).
  void register_capabilities(const std::vector<std::string_view>& capabilities);

  /// The module serving (capability, module), or the error to answer with.
  tl::expected<actor_module*, wire::error> resolve(std::string_view capability,
                                                   std::string_view module) const;

  /// Served capabilities, sorted.
  std::vector<std::string> served() const;
  /// Every module, in name order.
  std::vector<const actor_module*> modules() const;

 private:
  bool is_served(const std::string& capability) const;

  bool serve_all_;
  std::set<std::string, std::less<>> served_;
  std::map<std::string, int, std::less<>> declared_;  // capability -> module count
  std::unordered_map<std::string, std::unique_ptr<actor_module>, string_hash, std::equal_to<>>
      modules_;
  // The module resolve() found last. Requests come in runs for one module, and the hash lookup
  // was ~120 instructions of each; modules are never removed, so the pointer stays valid.
  mutable actor_module* last_ = nullptr;
};

}  // namespace mesh::host
