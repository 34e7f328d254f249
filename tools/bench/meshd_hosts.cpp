#include "meshd_hosts.hpp"

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

namespace mesh::bench {

using std::chrono::milliseconds;

bool wait_until(const std::function<bool()>& done, milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(milliseconds(50));
  }
}

wire::request control(wire::op kind, std::string_view capability, std::string_view id) {
  wire::request req;
  req.kind = kind;
  req.capability = capability;
  req.id = {reinterpret_cast<const uint8_t*>(id.data()), id.size()};
  return req;
}

cluster_view view_of(mesh_load& host) {
  const auto doc = host.query(control(wire::op::members));
  cluster_view v;
  v.epoch = doc.value("epoch", uint64_t{0});
  for (const auto& m : doc.value("members", nlohmann::json::array())) {
    if (m.value("status", "") == "alive") v.alive.insert(m.value("name", ""));
    if (m.value("self", false)) v.self_gossip = m.value("gossip", "");
  }
  return v;
}

std::vector<std::string> meshd_args(const bench_options& o, const std::string& name,
                                    const std::filesystem::path& ready, const std::string& seeds,
                                    const std::string& capabilities,
                                    const std::filesystem::path& plugins) {
  std::vector<std::string> args = {MESHD_PATH,
                                   "--name",
                                   name,
                                   "--listen",
                                   "tcp://127.0.0.1:*",
                                   "--plugins",
                                   plugins.empty() ? std::string(MESH_EXAMPLE_PLUGIN_DIR)
                                                   : plugins.string(),
                                   "--capabilities",
                                   capabilities,
                                   "--gossip",
                                   "tcp://127.0.0.1:*",
                                   "--profile",
                                   "test",
                                   "--ready-file",
                                   ready.string(),
                                   "--workers",
                                   std::to_string(o.workers),
                                   "--log-level",
                                   "warn"};
  if (!seeds.empty()) args.insert(args.end(), {"--seeds", seeds});
  return args;
}

meshd_cluster::meshd_cluster(const bench_options& options, std::filesystem::path dir,
                             std::filesystem::path plugins)
    : options_(options), dir_(std::move(dir)), plugins_(std::move(plugins)) {}

void meshd_cluster::add(const std::string& name, const std::string& capabilities) {
  const milliseconds start_timeout(15'000), converge_timeout(15'000);
  const auto ready = dir_ / (name + ".ready");
  hosts_.push_back(std::make_unique<child_process>(
      meshd_args(options_, name, ready, seed_gossip_, capabilities, plugins_),
      helper_options(ready, dir_ / (name + ".log"), start_timeout)));
  names_.push_back(name);
  mesh_load ctl({hosts_.front()->endpoint()}, false, options_);
  if (seed_gossip_.empty() &&
      !wait_until([&] { return !(seed_gossip_ = view_of(ctl).self_gossip).empty(); },
                  start_timeout))
    throw std::runtime_error("host " + name + " reports no gossip endpoint");
  const std::set<std::string> expected(names_.begin(), names_.end());
  if (!wait_until([&] { return view_of(ctl).alive == expected; }, converge_timeout))
    throw std::runtime_error(std::to_string(names_.size()) + " hosts did not converge within " +
                             std::to_string(converge_timeout.count()) + " ms");
}

std::vector<int> meshd_cluster::pids() const {
  std::vector<int> pids;
  for (const auto& h : hosts_) pids.push_back(h->pid());
  return pids;
}

bool meshd_cluster::stop() {
  bool clean = true;
  for (auto it = hosts_.rbegin(); it != hosts_.rend(); ++it)
    clean &= (*it)->stop(milliseconds(15'000));
  return clean;
}

}  // namespace mesh::bench
