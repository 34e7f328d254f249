// One name -> factory table (Envoy's registry pattern): how start-up config picks a strategy
// (placement, discovery) by the name the operator wrote. Adding a strategy is adding a row to
// its table; the list of accepted names in refusals and --help comes from the same rows.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace mesh::host {

/// The factories of one kind of strategy, by name, in the order they are listed to people.
template <class Factory>
class factory_registry {
 public:
  struct entry {
    std::string_view name;
    Factory make;
  };

  factory_registry(std::initializer_list<entry> entries) : entries_(entries) {}

  /// The factory registered as `name` (exact, case-sensitive), or nullptr.
  const Factory* find(std::string_view name) const noexcept {
    for (const auto& e : entries_)
      if (e.name == name) return &e.make;
    return nullptr;
  }

  /// Every registered name, in table order.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_) out.emplace_back(e.name);
    return out;
  }

  /// The names for a sentence, e.g. "rendezvous, modulo".
  std::string joined_names(std::string_view separator = ", ") const {
    std::string out;
    for (const auto& e : entries_) out.append(out.empty() ? "" : separator).append(e.name);
    return out;
  }

 private:
  std::vector<entry> entries_;
};

}  // namespace mesh::host
