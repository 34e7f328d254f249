// Placement plugins: a strategy loaded from a shared library (mesh/placement_abi.h), and the
// start-up choice between the built-in strategies and a plugin. Kept apart from placement.cpp
// so that the client library computes owners without linking Boost.DLL.
#include <mesh/placement_abi.h>

#include <array>
#include <boost/dll/shared_library.hpp>
#include <type_traits>
#include <utility>

#include "config/factory_registry.hpp"
#include "placement/placement_plugin.hpp"
#include "plugin/versioned_library.hpp"

namespace mesh::host {

using placement::placement_strategy;

namespace {

/// A strategy from a placement plugin. Owns the library: the function pointer and the name
/// stay valid for exactly as long as this object lives.
class plugin_strategy final : public placement_strategy {
 public:
  plugin_strategy(boost::dll::shared_library library, std::string name,
                  mesh_placement_owner_fn owner_fn)
      : library_(std::move(library)), name_(std::move(name)), owner_fn_(owner_fn) {}

  std::string name() const override { return "plugin:" + name_; }

  size_t owner(uint32_t shard, uint32_t shards,
               const std::vector<std::string>& hosts) const override {
    if (hosts.empty()) return 0;
    std::vector<const char*> names;
    names.reserve(hosts.size());
    for (const auto& h : hosts) names.push_back(h.c_str());
    // Checked at load, but never trusted at run time: an index out of range cannot escape.
    return owner_fn_(shard, shards, names.data(), names.size()) % hosts.size();
  }

 private:
  boost::dll::shared_library library_;
  std::string name_;
  mesh_placement_owner_fn owner_fn_;
};

constexpr abi_contract placement_contract{MESH_PLACEMENT_ABI_VERSION_SYMBOL,
                                          " (not a placement plugin?)",
                                          MESH_PLACEMENT_ABI_VERSION, "placement ABI",
                                          "host placement ABI"};

using placement_factory = std::unique_ptr<placement_strategy> (*)();

/// The built-in strategies --strategy names; a path to a .so is the other accepted form.
const factory_registry<placement_factory>& builtin_placements() {
  static const factory_registry<placement_factory> table{
      {"rendezvous", &placement::make_rendezvous},
      {"modulo", &placement::make_modulo},
  };
  return table;
}

/// Calls the plugin on synthetic views (1..8 hosts, shards 0..63 of 64 and of 4096) and returns
/// the answers, or an error on the first index out of range.
tl::expected<std::vector<size_t>, std::string> probe(mesh_placement_owner_fn owner_fn) {
  static constexpr std::array<const char*, 8> pool = {"probe-a", "probe-b", "probe-c", "probe-d",
                                                      "probe-e", "probe-f", "probe-g", "probe-h"};
  std::vector<size_t> answers;
  for (const size_t count : {size_t{1}, size_t{2}, size_t{3}, size_t{5}, size_t{8}}) {
    for (const uint32_t shards : {uint32_t{64}, uint32_t{4096}}) {
      for (uint32_t shard = 0; shard < std::min<uint32_t>(shards, 64); ++shard) {
        const size_t index = owner_fn(shard, shards, pool.data(), count);
        if (index >= count)
          return tl::unexpected("returned owner index " + std::to_string(index) + " for shard " +
                                std::to_string(shard) + " of " + std::to_string(shards) +
                                " among " + std::to_string(count) + " hosts");
        answers.push_back(index);
      }
    }
  }
  return answers;
}

}  // namespace

tl::expected<std::unique_ptr<placement_strategy>, std::string> load_placement_plugin(
    const std::string& path) {
  const auto refuse = [&](const std::string& reason) {
    return tl::unexpected("placement plugin " + path + ": " + reason);
  };
  auto opened = open_versioned_library(path, placement_contract);
  if (!opened) return refuse(opened.error());
  boost::dll::shared_library& library = opened->library;
  const auto name_fn = entry_point<const char*()>(library, MESH_PLACEMENT_NAME_SYMBOL);
  if (!name_fn) return refuse(name_fn.error());
  const auto owner_fn = entry_point<std::remove_pointer_t<mesh_placement_owner_fn>>(
      library, MESH_PLACEMENT_OWNER_SYMBOL);
  if (!owner_fn) return refuse(owner_fn.error());
  const char* name = (*name_fn)();
  if (!valid_module_name(name, 64))
    return refuse("empty, unprintable or too long name (at most 64 printable bytes, no spaces)");
  const auto first = probe(*owner_fn);
  if (!first) return refuse(first.error());
  const auto second = probe(*owner_fn);
  if (!second) return refuse(second.error());
  if (*first != *second)
    return refuse("not deterministic: the same probe gave different owners twice");
  return std::make_unique<plugin_strategy>(std::move(library), name, *owner_fn);
}

std::string builtin_placement_names() { return builtin_placements().joined_names(); }

tl::expected<std::unique_ptr<placement_strategy>, std::string> make_placement(
    const std::string& spec) {
  if (const auto* make = builtin_placements().find(spec)) return (*make)();
  if (spec.size() > 3 && spec.ends_with(".so")) return load_placement_plugin(spec);
  return tl::unexpected("unknown placement \"" + spec + "\" (expected " +
                        builtin_placements().joined_names() +
                        " or a path to a placement plugin .so)");
}

}  // namespace mesh::host
