// Placement strategies a host is configured with: the built-in ones by name, or a custom one
// from a shared library exporting the placement ABI (plugin-sdk/include/mesh/placement_abi.h).
#pragma once

#include <mesh/placement/placement.hpp>

#include <memory>
#include <string>
#include <tl/expected.hpp>

namespace mesh::host {

/// A custom strategy from a shared library exporting the placement ABI
/// (plugin-sdk/include/mesh/placement_abi.h). Checks the ABI version first, then the name, then
/// probes the owner function (in range, deterministic); refused with a reason naming the file
/// otherwise. The returned strategy keeps the library loaded for its whole lifetime.
tl::expected<std::unique_ptr<placement::placement_strategy>, std::string> load_placement_plugin(
    const std::string& path);
/// The built-in strategies' names, for help texts: "rendezvous, modulo".
std::string builtin_placement_names();
/// A built-in strategy by name ("rendezvous", "modulo": the table in placement_plugin.cpp) or
/// a path to a placement plugin (a file name ending in ".so"); anything else is refused with
/// the list of accepted forms. Meant for start-up config.
tl::expected<std::unique_ptr<placement::placement_strategy>, std::string> make_placement(
    const std::string& spec);

}  // namespace mesh::host
