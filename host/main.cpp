// meshd: the Mesh host. Loads actor plugins, serves requests on a ZeroMQ ROUTER socket.
#include <mesh/wire/shard.hpp>
#include <signal.h>
#include <unistd.h>

#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <thread>

#include <mesh/discovery/membership_service.hpp>
#include <mesh/discovery/seed_source.hpp>

#include "placement/placement_plugin.hpp"
#include "plugin/plugin_watcher.hpp"
#include "security/authenticator.hpp"
#include <mesh/security/curve_keys.hpp>
#include "server/host_config.hpp"
#include "server/json_log_formatter.hpp"
#include "server/log_value.hpp"
#include "server/metrics_endpoint.hpp"
#include "server/server.hpp"

#ifndef MESH_DEFAULT_PLUGIN_DIR
#define MESH_DEFAULT_PLUGIN_DIR "plugins"
#endif

namespace {

mesh::host::server* g_server = nullptr;
unsigned g_watchdog_seconds = 30;

void on_signal(int) {
  if (g_server != nullptr) g_server->stop();
  // If draining or a stuck handler keeps us from exiting, SIGALRM's default action ends us.
  ::alarm(g_watchdog_seconds);
}

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

void write_ready_file(const std::filesystem::path& path, const std::string& text) {
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << text << "\n";
    if (!out) throw std::runtime_error("cannot write ready file " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

/// `endpoint` with its host replaced by `host` (when given), e.g. tcp://0.0.0.0:7100 -> tcp://h:7100.
std::string advertised(const std::string& endpoint, const std::string& host) {
  if (host.empty()) return endpoint;
  const auto scheme = endpoint.find("://");
  const auto colon = endpoint.rfind(':');
  if (scheme == std::string::npos || colon == std::string::npos || colon < scheme + 3)
    return endpoint;
  return endpoint.substr(0, scheme + 3) + host + endpoint.substr(colon);
}

/// A bad key file or security option: meshd exits with status 2 (docs/SECURITY.md).
struct key_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The host part of a ZeroMQ endpoint ("tcp://HOST:PORT") or of "HOST:PORT"; "" for ipc://,
/// inproc:// and anything without a port.
std::string listen_host(const std::string& endpoint) {
  std::string rest = endpoint;
  if (const auto scheme = endpoint.find("://"); scheme != std::string::npos) {
    if (endpoint.compare(0, scheme, "tcp") != 0) return "";
    rest = endpoint.substr(scheme + 3);
  }
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos) return "";
  std::string host = rest.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host;
}

/// Whether only this machine can reach `endpoint` (loopback address or interface, ipc, inproc).
bool local_only(const std::string& endpoint) {
  const std::string host = listen_host(endpoint);
  return host.empty() ? endpoint.find("://") != std::string::npos
                      : host.rfind("127.", 0) == 0 || host == "::1" || host == "localhost" ||
                            host == "lo";
}

/// The cluster key pair from --curve-secret; warns when others may read the file.
mesh::security::key_pair load_cluster_key(const std::filesystem::path& path) {
  mesh::security::key_pair pair;
  try {
    pair = mesh::security::read_key_pair(path);
  } catch (const std::exception& e) {
    throw key_error(std::string("--curve-secret ") + e.what());
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
    spdlog::warn("key file readable by others: {} mode={:o} (chmod 600 it)", path.string(),
                 st.st_mode & 0777);
  return pair;
}

}  // namespace

int main(int argc, char** argv) {
  mesh::host::host_config config;
  config.plugins_dir = MESH_DEFAULT_PLUGIN_DIR;
  config.workers = std::max(1u, std::thread::hardware_concurrency());

  CLI::App app{"meshd: a Mesh host. Loads actor plugins and serves call/cast requests."};
  std::string capabilities, idle_timeout = "30m", max_frame = "1m", scan_interval = "250ms",
                            drain_timeout = "10s", log_level = "info", plugins_dir;
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
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  std::string log_format = "text", metrics_listen;
  std::filesystem::path metrics_ready_file;
  app.add_option("--log-format", log_format,
                 "text, or json: one JSON object per line with ts, level, msg")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--metrics-listen", metrics_listen,
                 "serve Prometheus metrics at http://HOST:PORT/metrics (port 0 or * picks one)");
  app.add_option("--metrics-ready-file", metrics_ready_file,
                 "write the metrics endpoint's bound HOST:PORT here once serving");

  // Cluster.
  std::string gossip, discovery = "static", seeds, profile = "default", strategy = "rendezvous",
                      advertise;
  mesh::discovery::multicast_config mcast;
  mesh::discovery::dns_config dns;
  std::string dns_interval = "5s";
  auto* cluster = "Cluster";
  app.add_option("--gossip", gossip,
                 "bind the gossip PUB socket here and join a cluster (e.g. tcp://127.0.0.1:7101); "
                 "without it the host runs alone")
      ->group(cluster);
  app.add_option("--discovery", discovery, "how to find the first peers: static, multicast, dns")
      ->capture_default_str()
      ->check(CLI::IsMember({"static", "multicast", "dns"}))
      ->group(cluster);
  app.add_option("--seeds", seeds, "static discovery: comma-separated gossip endpoints of peers")
      ->group(cluster);
  app.add_option("--multicast-addr", mcast.multicast_addr, "multicast group")
      ->capture_default_str()
      ->group(cluster);
  app.add_option("--multicast-port", mcast.port, "multicast port")->capture_default_str()->group(cluster);
  app.add_option("--multicast-if", mcast.if_addr, "interface address for multicast")
      ->capture_default_str()
      ->group(cluster);
  app.add_option("--multicast-ttl", mcast.ttl, "multicast TTL")->capture_default_str()->group(cluster);
  app.add_option("--cluster-secret", mcast.secret,
                 "shared secret authenticating multicast beacons")
      ->group(cluster);
  app.add_option("--dns-name", dns.name, "dns discovery: name whose A/AAAA records are the peers")
      ->group(cluster);
  app.add_option("--dns-port", dns.gossip_port, "dns discovery: the peers' gossip port")
      ->capture_default_str()
      ->group(cluster);
  app.add_option("--dns-server", dns.server, "dns discovery: ask this server (ip:port)")
      ->group(cluster);
  app.add_option("--dns-interval", dns_interval, "dns discovery: how often to resolve")
      ->capture_default_str()
      ->group(cluster);
  app.add_option("--profile", profile,
                 "failure detection: default (a crash is noticed in ~3.5 s) or test (~1 s)")
      ->capture_default_str()
      ->check(CLI::IsMember({"default", "test"}))
      ->group(cluster);
  app.add_option("--strategy", strategy, "placement: rendezvous, modulo, or a path to a .so")
      ->capture_default_str()
      ->group(cluster);
  app.add_option("--advertise", advertise,
                 "host or IP that peers use to reach this host (when binding to 0.0.0.0)")
      ->group(cluster);
  std::filesystem::path curve_secret, authorized_keys;
  auto* security = "Security (docs/SECURITY.md)";
  app.add_option("--curve-secret", curve_secret,
                 "the cluster key pair (meshctl keygen): CURVE on every socket; only hosts with "
                 "this key and --authorized-keys clients get in")
      ->group(security);
  app.add_option("--authorized-keys", authorized_keys,
                 "public keys of the clients allowed to send requests, one per line")
      ->group(security);
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("meshd");
  spdlog::set_default_logger(logger);
  if (log_format == "json") {
    spdlog::set_formatter(std::make_unique<mesh::host::json_log_formatter>());
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  spdlog::set_level(spdlog::level::from_str(log_level));

  try {
    if (!plugins_dir.empty()) config.plugins_dir = plugins_dir;
    if (!capabilities.empty()) config.capabilities = split_list(capabilities);
    config.idle_timeout = mesh::host::parse_duration(idle_timeout);
    config.max_frame = mesh::host::parse_size(max_frame);
    config.scan_interval = mesh::host::parse_duration(scan_interval);
    config.drain_timeout = mesh::host::parse_duration(drain_timeout);
    if (config.idle_timeout.count() == 0) throw std::invalid_argument("--idle-timeout must be > 0");
    if (config.max_frame < 64) throw std::invalid_argument("--max-frame must be at least 64");
    if (config.scan_interval.count() == 0) throw std::invalid_argument("--scan-interval must be > 0");
    if (!std::filesystem::is_directory(config.plugins_dir))
      throw std::invalid_argument("plugins directory " + config.plugins_dir.string() +
                                  " does not exist");
    g_watchdog_seconds =
        static_cast<unsigned>(std::chrono::ceil<std::chrono::seconds>(config.drain_timeout).count()) + 20;

    std::optional<mesh::security::key_pair> cluster_key;
    std::vector<mesh::security::authorized_key> clients;
    if (!curve_secret.empty()) cluster_key = load_cluster_key(curve_secret);
    if (!authorized_keys.empty()) {
      if (!cluster_key) throw key_error("--authorized-keys needs --curve-secret");
      try {
        clients = mesh::security::read_authorized_keys(authorized_keys);
      } catch (const std::exception& e) {
        throw key_error(std::string("--authorized-keys ") + e.what());
      }
    }
    std::string beacon_secret = "none";
    if (!mcast.secret.empty()) {
      beacon_secret = "given";
    } else if (cluster_key) {
      // docs/SECURITY.md: beacons are signed with a secret derived from the cluster key.
      mcast.secret = "mesh-beacon-v1:" + cluster_key->secret_key;
      beacon_secret = "derived";
    }
    if (!cluster_key) {
      const std::pair<const char*, const std::string*> listeners[] = {
          {"requests", &config.listen}, {"gossip", &gossip}, {"metrics", &metrics_listen}};
      for (const auto& [what, endpoint] : listeners)
        if (!endpoint->empty() && !local_only(*endpoint))
          spdlog::warn("unauthenticated: {} listens on {} without --curve-secret: anyone who can "
                       "reach it gets in (docs/SECURITY.md)",
                       what, *endpoint);
    } else if (!metrics_listen.empty() && !local_only(metrics_listen)) {
      spdlog::warn("unauthenticated: metrics listens on {}: /metrics is plain HTTP, readable by "
                   "anyone who can reach it (docs/SECURITY.md)",
                   metrics_listen);
    }

    zmq::context_t context(1);
    std::unique_ptr<mesh::security::authenticator> auth;
    mesh::discovery::socket_setup gossip_security;
    if (cluster_key) {
      auth = std::make_unique<mesh::security::authenticator>(context, *cluster_key, clients);
      config.security = auth.get();
      auto* a = auth.get();
      gossip_security.before_bind = [a](zmq::socket_t& s) {
        a->serve(s, mesh::security::socket_role::gossip);
      };
      gossip_security.before_connect = [a](zmq::socket_t& s) { a->connect_as_host(s); };
      spdlog::info("auth: curve key={} authorized_clients={} beacon_secret={}",
                   cluster_key->public_key, clients.size(), beacon_secret);
    }
    mesh::host::server server(config, context);
    mesh::host::plugin_watcher watcher(config.plugins_dir, [&server](mesh::host::plugin_event e) {
      server.post_plugin(std::move(e));
    });
    watcher.scan_once();
    server.apply_pending_plugins();

    std::unique_ptr<mesh::discovery::membership_service> members;
    if (!gossip.empty()) {
      auto placement = mesh::host::make_placement(strategy);
      if (!placement) throw std::invalid_argument("--strategy " + strategy + ": " + placement.error());
      const auto fail = profile == "test" ? mesh::discovery::failure_profile::test()
                                          : mesh::discovery::failure_profile::standard();
      mesh::discovery::member_record self;
      self.name = server.name();
      // Grows on every restart (wall-clock milliseconds), so a restarted host wins over its past.
      self.incarnation = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count());
      self.version = 1;
      self.endpoint = advertised(server.endpoint(), advertise);
      self.capabilities = server.served_capabilities();
      self.shards = config.shards;
      self.strategy = (*placement)->name();
      std::unique_ptr<mesh::discovery::seed_source> source;
      if (discovery == "static") {
        source = mesh::discovery::make_static_seeds(split_list(seeds));
      } else if (discovery == "multicast") {
        mcast.host_name = self.name;
        mcast.gossip_endpoint = "";  // filled below, once bound
      } else {
        if (dns.name.empty()) throw std::invalid_argument("--discovery dns needs --dns-name");
        dns.interval = mesh::host::parse_duration(dns_interval);
        source = mesh::discovery::make_dns_seeds(dns);
      }
      mesh::host::server* srv = &server;
      members = std::make_unique<mesh::discovery::membership_service>(
          context, self, gossip, fail, std::move(source),
          [srv](std::shared_ptr<const mesh::discovery::membership_snapshot> snap) {
            srv->post_membership(std::move(snap));
          },
          gossip_security);
      if (discovery == "multicast") {
        mcast.gossip_endpoint = advertised(members->gossip_endpoint(), advertise);
        members->set_seed_source(mesh::discovery::make_multicast_seeds(mcast));
      }
      auto* m = members.get();
      server.enable_cluster(std::move(*placement),
                            mesh::host::cluster_hooks{
                                [m](std::vector<std::string> caps) { m->set_capabilities(std::move(caps)); },
                                [m] { m->leave(); }, fail.heartbeat * 3,
                                fail.dead_after - 2 * fail.heartbeat});
      members->start();
      spdlog::info("cluster joined: {} gossip={} discovery={} profile={} strategy={} shards={}",
                   mesh::host::log_value(self.name), members->gossip_endpoint(), discovery,
                   profile, mesh::host::log_value(self.strategy), config.shards);
    }
    if (auth) auth->start();
    watcher.start(config.scan_interval);

    std::unique_ptr<mesh::host::metrics_endpoint> metrics;
    if (!metrics_listen.empty()) {
      server.enable_stats_publishing();
      mesh::host::server* srv = &server;
      metrics = std::make_unique<mesh::host::metrics_endpoint>(
          metrics_listen, [srv] { return mesh::host::render_prometheus(srv->published_stats()); });
    } else if (!metrics_ready_file.empty()) {
      throw std::invalid_argument("--metrics-ready-file needs --metrics-listen");
    }

    g_server = &server;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);

    std::string caps;
    if (config.capabilities)
      for (const auto& c : *config.capabilities) caps += (caps.empty() ? "" : ",") + c;
    spdlog::info("started: {} endpoint={} plugins={} capabilities={} workers={} metrics={}",
                 mesh::host::log_value(server.name()), server.endpoint(),
                 mesh::host::log_value(config.plugins_dir.string()),
                 caps.empty() ? "all" : mesh::host::log_value(caps), config.workers,
                 metrics ? "http://" + metrics->address() + "/metrics" : std::string("off"));
    if (!metrics_ready_file.empty() && metrics) write_ready_file(metrics_ready_file, metrics->address());
    if (!config.ready_file.empty()) write_ready_file(config.ready_file, server.endpoint());
    server.run();
    if (metrics) metrics->stop();
    if (members) {
      members->stop();
      if (const uint64_t bad = members->decode_errors(); bad > 0)
        spdlog::info("gossip summary: {} malformed_messages={}", server.name(), bad);
    }
    watcher.stop();
    g_server = nullptr;
  } catch (const zmq::error_t& e) {
    spdlog::error("cannot serve on {}: {}", config.listen, e.what());
    return 1;
  } catch (const key_error& e) {
    spdlog::error("{}", e.what());
    return 2;  // nothing was started, least of all unauthenticated
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
