// `--discovery static`: the endpoints given on the command line, checked once at start-up.
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gossip_endpoint.hpp"
#include "mesh/discovery/seed_source.hpp"

namespace mesh::discovery {
namespace {

class static_seeds final : public seed_source {
 public:
  explicit static_seeds(std::vector<std::string> endpoints) : endpoints_(std::move(endpoints)) {}
  std::vector<std::string> seeds() override { return endpoints_; }
  std::string describe() const override {
    return "static (" + std::to_string(endpoints_.size()) +
           (endpoints_.size() == 1 ? " seed)" : " seeds)");
  }

 private:
  const std::vector<std::string> endpoints_;
};

}  // namespace

std::unique_ptr<seed_source> make_static_seeds(std::vector<std::string> endpoints) {
  for (const auto& endpoint : endpoints) require_gossip_endpoint(endpoint, "--seeds");
  return std::make_unique<static_seeds>(std::move(endpoints));
}

}  // namespace mesh::discovery
