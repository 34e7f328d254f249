#include "config/command_line.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <sstream>
#include <thread>

#include "placement/placement_plugin.hpp"

namespace mesh::host {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
    start = end + 1;
  }
  return out;
}

meshd_config parse_command_line(int argc, const char* const* argv,
                                const std::filesystem::path& default_plugins_dir) {
  meshd_config out;
  host_config& config = out.host;
  config.plugins_dir = default_plugins_dir;
  config.workers = std::max(1u, std::thread::hardware_concurrency());

  CLI::App app{"meshd: a Mesh host. Loads actor plugins and serves call/cast requests."};
  std::string capabilities, idle_timeout = "30m", max_frame = "1m", scan_interval = "250ms",
                            drain_timeout = "10s", plugins_dir;
  app.add_option("--listen", config.listen, "ZeroMQ endpoint to serve requests on")
      ->capture_default_str();
  app.add_option("--plugins", plugins_dir,
                 "directory of plugin .so files (watched for new ones)\n[default: " +
                     config.plugins_dir.string() + "]");
  app.add_option("--capabilities", capabilities,
                 "comma-separated capabilities to serve (default: every capability the plugins "
                 "declare)");
  app.add_option("--name", config.name, "host name in actor references (default: hostname:port)");
  app.add_option("--workers", config.workers, "threads running actor handlers")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u));
  app.add_option("--idle-timeout", idle_timeout, "deactivate actors idle this long (e.g. 30s, 15m)")
      ->capture_default_str();
  app.add_option("--shards", config.shards, "shard count for shard_for(id)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 1u << 20));
  app.add_option("--max-frame", max_frame, "largest request frame accepted (e.g. 64k, 1m)")
      ->capture_default_str();
  app.add_option("--max-inflight", config.max_inflight,
                 "requests in flight before new ones get 'overloaded'")
      ->capture_default_str();
  app.add_option("--scan-interval", scan_interval, "how often the plugins directory is scanned")
      ->capture_default_str();
  app.add_option("--drain-timeout", drain_timeout,
                 "on SIGTERM, how long in-flight requests may take")
      ->capture_default_str();
  app.add_option("--ready-file", config.ready_file,
                 "write the bound endpoint to this file once serving");
  app.add_option("--log-level", out.log.level, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_option("--log-format", out.log.format,
                 "text, or json: one JSON object per line with ts, level, msg")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--metrics-listen", out.metrics.listen,
                 "serve Prometheus metrics at http://HOST:PORT/metrics (port 0 or * picks one)");
  app.add_option("--metrics-ready-file", out.metrics.ready_file,
                 "write the metrics endpoint's bound HOST:PORT here once serving");

  // Cluster.
  cluster_settings& cl = out.cluster;
  discovery_settings& disc = cl.discovery;
  discovery::multicast_config& mcast = disc.multicast;
  discovery::dns_config& dns = disc.dns;
  std::string seeds;
  const std::vector<std::string> discoveries = discovery_strategy_names();
  std::string discovery_help = "how to find the first peers: ";
  for (const auto& name : discoveries)
    discovery_help.append(name == discoveries.front() ? "" : ", ").append(name);
  auto* cluster = "Cluster";
  app.add_option("--gossip", cl.gossip,
                 "bind the gossip PUB socket here and join a cluster (e.g. tcp://127.0.0.1:7101); "
                 "without it the host runs alone")
      ->group(cluster);
  app.add_option("--discovery", disc.strategy, discovery_help)
      ->capture_default_str()
      ->check(CLI::IsMember(discoveries))
      ->group(cluster);
  app.add_option("--seeds", seeds, "static discovery: comma-separated gossip endpoints of peers")
      ->group(cluster);
  app.add_option("--multicast-addr", mcast.multicast_addr, "multicast group")
      ->capture_default_str()
      ->group(cluster);
  app.add_option("--multicast-port", mcast.port, "multicast port")
      ->capture_default_str()
      ->group(cluster);
  app.add_option("--multicast-if", mcast.if_addr, "interface address for multicast")
      ->capture_default_str()
      ->group(cluster);
  app.add_option("--multicast-ttl", mcast.ttl, "multicast TTL")
      ->capture_default_str()
      ->group(cluster);
  app.add_option("--cluster-secret", mcast.secret, "shared secret authenticating multicast beacons")
      ->group(cluster);
  app.add_option("--dns-name", dns.name, "dns discovery: name whose A/AAAA records are the peers")
      ->group(cluster);
  app.add_option("--dns-port", dns.gossip_port, "dns discovery: the peers' gossip port")
      ->capture_default_str()
      ->group(cluster);
  app.add_option("--dns-server", dns.server, "dns discovery: ask this server (ip:port)")
      ->group(cluster);
  app.add_option("--dns-interval", disc.dns_interval, "dns discovery: how often to resolve")
      ->capture_default_str()
      ->group(cluster);
  app.add_option("--profile", cl.profile,
                 "failure detection: default (a crash is noticed in ~3.5 s) or test (~1 s)")
      ->capture_default_str()
      ->check(CLI::IsMember({"default", "test"}))
      ->group(cluster);
  app.add_option("--strategy", cl.strategy,
                 "placement: " + builtin_placement_names() + ", or a path to a .so")
      ->capture_default_str()
      ->group(cluster);
  app.add_option("--advertise", cl.advertise,
                 "host or IP that peers use to reach this host (when binding to 0.0.0.0)")
      ->group(cluster);
  auto* security = "Security (docs/SECURITY.md)";
  app.add_option("--curve-secret", out.security.curve_secret,
                 "the cluster key pair (meshctl keygen): CURVE on every socket; only hosts with "
                 "this key and --authorized-keys clients get in")
      ->group(security);
  app.add_option("--authorized-keys", out.security.authorized_keys,
                 "public keys of the clients allowed to send requests, one per line")
      ->group(security);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::ostringstream o, r;
    const int status = app.exit(e, o, r);
    throw command_line_exit(status, o.str(), r.str());
  }

  const auto fail = [&](const std::string& message, int status = 1) {
    return config_error(message, status, out.log);
  };
  try {
    if (!plugins_dir.empty()) config.plugins_dir = plugins_dir;
    if (!capabilities.empty()) config.capabilities = split_list(capabilities);
    config.idle_timeout = parse_duration(idle_timeout);
    config.max_frame = parse_size(max_frame);
    config.scan_interval = parse_duration(scan_interval);
    config.drain_timeout = parse_duration(drain_timeout);
  } catch (const std::invalid_argument& e) {
    throw fail(e.what());
  }
  if (config.idle_timeout.count() == 0) throw fail("--idle-timeout must be > 0");
  if (config.max_frame < 64) throw fail("--max-frame must be at least 64");
  if (config.scan_interval.count() == 0) throw fail("--scan-interval must be > 0");
  std::error_code ec;
  if (!std::filesystem::is_directory(config.plugins_dir, ec))
    throw fail("plugins directory " + config.plugins_dir.string() + " does not exist");
  if (!out.security.authorized_keys.empty() && out.security.curve_secret.empty())
    throw fail("--authorized-keys needs --curve-secret", 2);
  if (!out.metrics.ready_file.empty() && out.metrics.listen.empty())
    throw fail("--metrics-ready-file needs --metrics-listen");
  disc.seeds = split_list(seeds);
  return out;
}

}  // namespace mesh::host
