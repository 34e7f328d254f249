// meshd: the Mesh host. Loads actor plugins, serves requests on a ZeroMQ ROUTER socket.
#include <signal.h>
#include <unistd.h>

#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <mesh/discovery/membership_service.hpp>
#include <mesh/security/curve_keys.hpp>

#include "config/command_line.hpp"
#include "placement/placement_plugin.hpp"
#include "plugin/plugin_watcher.hpp"
#include "security/authenticator.hpp"
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

/// A bad key file: meshd exits with status 2, nothing started (docs/SECURITY.md).
mesh::host::config_error key_error(const std::string& message,
                                   const mesh::host::log_settings& log) {
  return mesh::host::config_error(message, 2, log);
}

/// The cluster key pair from --curve-secret; warns when others may read the file.
mesh::security::key_pair load_cluster_key(const std::filesystem::path& path,
                                          const mesh::host::log_settings& log) {
  mesh::security::key_pair pair;
  try {
    pair = mesh::security::read_key_pair(path);
  } catch (const std::exception& e) {
    throw key_error(std::string("--curve-secret ") + e.what(), log);
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
    spdlog::warn("key file readable by others: {} mode={:o} (chmod 600 it)", path.string(),
                 st.st_mode & 0777);
  return pair;
}

/// Sends meshd's log to stderr, as text or one JSON object per line.
void start_logging(const mesh::host::log_settings& log) {
  auto logger = spdlog::stderr_color_mt("meshd");
  spdlog::set_default_logger(logger);
  if (log.format == "json") {
    spdlog::set_formatter(std::make_unique<mesh::host::json_log_formatter>());
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  }
  spdlog::set_level(spdlog::level::from_str(log.level));
}

/// Warns about every listener that anyone who can reach it may use (docs/SECURITY.md).
void warn_unauthenticated(const mesh::host::meshd_config& config, bool keyed) {
  const std::string& metrics = config.metrics.listen;
  if (!keyed) {
    const std::pair<const char*, const std::string*> listeners[] = {
        {"requests", &config.host.listen}, {"gossip", &config.cluster.gossip}, {"metrics", &metrics}};
    for (const auto& [what, endpoint] : listeners)
      if (!endpoint->empty() && !local_only(*endpoint))
        spdlog::warn("unauthenticated: {} listens on {} without --curve-secret: anyone who can "
                     "reach it gets in (docs/SECURITY.md)",
                     what, *endpoint);
  } else if (!metrics.empty() && !local_only(metrics)) {
    spdlog::warn("unauthenticated: metrics listens on {}: /metrics is plain HTTP, readable by "
                 "anyone who can reach it (docs/SECURITY.md)",
                 metrics);
  }
}

/// Joins the cluster `config.cluster` describes: gossip bound, seed source made, placement
/// loaded, the server switched to cluster mode. Returns the running membership service.
std::unique_ptr<mesh::discovery::membership_service> join_cluster(
    mesh::host::meshd_config& config, zmq::context_t& context, mesh::host::server& server,
    const mesh::discovery::socket_setup& gossip_security) {
  const mesh::host::cluster_settings& cl = config.cluster;
  auto placement = mesh::host::make_placement(cl.strategy);
  if (!placement) throw std::invalid_argument("--strategy " + cl.strategy + ": " + placement.error());
  const auto fail = cl.profile == "test" ? mesh::discovery::failure_profile::test()
                                         : mesh::discovery::failure_profile::standard();
  mesh::discovery::member_record self;
  self.name = server.name();
  // Grows on every restart (wall-clock milliseconds), so a restarted host wins over its past.
  self.incarnation = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  self.version = 1;
  self.endpoint = advertised(server.endpoint(), cl.advertise);
  self.capabilities = server.served_capabilities();
  self.shards = config.host.shards;
  self.strategy = (*placement)->name();
  mesh::host::server* srv = &server;
  auto members = std::make_unique<mesh::discovery::membership_service>(
      context, self, cl.gossip, fail, nullptr,
      [srv](std::shared_ptr<const mesh::discovery::membership_snapshot> snap) {
        srv->post_membership(std::move(snap));
      },
      gossip_security);
  members->set_seed_source(mesh::host::make_seed_source(
      cl.discovery, {self.name, advertised(members->gossip_endpoint(), cl.advertise)}));
  auto* m = members.get();
  server.enable_cluster(std::move(*placement),
                        mesh::host::cluster_hooks{
                            [m](std::vector<std::string> caps) { m->set_capabilities(std::move(caps)); },
                            [m] { m->leave(); }, fail.heartbeat * 3,
                            fail.dead_after - 2 * fail.heartbeat, self.incarnation});
  members->start();
  spdlog::info("cluster joined: {} gossip={} discovery={} profile={} strategy={} shards={}",
               mesh::host::log_value(self.name), members->gossip_endpoint(),
               cl.discovery.strategy, cl.profile, mesh::host::log_value(self.strategy),
               config.host.shards);
  return members;
}

/// Starts everything `config` asks for, serves until SIGTERM or SIGINT, then stops it all.
void serve(mesh::host::meshd_config& config) {
  g_watchdog_seconds = static_cast<unsigned>(
      std::chrono::ceil<std::chrono::seconds>(config.host.drain_timeout).count()) + 20;

  std::optional<mesh::security::key_pair> cluster_key;
  std::vector<mesh::security::authorized_key> clients;
  if (!config.security.curve_secret.empty())
    cluster_key = load_cluster_key(config.security.curve_secret, config.log);
  if (!config.security.authorized_keys.empty()) {
    try {
      clients = mesh::security::read_authorized_keys(config.security.authorized_keys);
    } catch (const std::exception& e) {
      throw key_error(std::string("--authorized-keys ") + e.what(), config.log);
    }
  }
  std::string& beacon_key = config.cluster.discovery.multicast.secret;
  std::string beacon_secret = "none";
  if (!beacon_key.empty()) {
    beacon_secret = "given";
  } else if (cluster_key) {
    // docs/SECURITY.md: beacons are signed with a secret derived from the cluster key.
    beacon_key = "mesh-beacon-v1:" + cluster_key->secret_key;
    beacon_secret = "derived";
  }
  warn_unauthenticated(config, cluster_key.has_value());

  zmq::context_t context(1);
  std::unique_ptr<mesh::security::authenticator> auth;
  mesh::discovery::socket_setup gossip_security;
  if (cluster_key) {
    auth = std::make_unique<mesh::security::authenticator>(context, *cluster_key, clients);
    config.host.security = auth.get();
    auto* a = auth.get();
    gossip_security.before_bind = [a](zmq::socket_t& s) {
      a->serve(s, mesh::security::socket_role::gossip);
    };
    gossip_security.before_connect = [a](zmq::socket_t& s) { a->connect_as_host(s); };
    spdlog::info("auth: curve key={} authorized_clients={} beacon_secret={}",
                 cluster_key->public_key, clients.size(), beacon_secret);
  }
  mesh::host::server server(config.host, context);
  mesh::host::plugin_watcher watcher(config.host.plugins_dir, [&server](mesh::host::plugin_event e) {
    server.post_plugin(std::move(e));
  });
  watcher.scan_once();
  server.apply_pending_plugins();

  std::unique_ptr<mesh::discovery::membership_service> members;
  if (!config.cluster.gossip.empty()) members = join_cluster(config, context, server, gossip_security);
  if (auth) auth->start();
  watcher.start(config.host.scan_interval);

  std::unique_ptr<mesh::host::metrics_endpoint> metrics;
  if (!config.metrics.listen.empty()) {
    server.enable_stats_publishing();
    mesh::host::server* srv = &server;
    metrics = std::make_unique<mesh::host::metrics_endpoint>(
        config.metrics.listen, [srv] { return mesh::host::render_prometheus(srv->published_stats()); });
  }

  g_server = &server;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  std::string caps;
  if (config.host.capabilities)
    for (const auto& c : *config.host.capabilities) caps += (caps.empty() ? "" : ",") + c;
  spdlog::info("started: {} endpoint={} plugins={} capabilities={} workers={} metrics={}",
               mesh::host::log_value(server.name()), server.endpoint(),
               mesh::host::log_value(config.host.plugins_dir.string()),
               caps.empty() ? "all" : mesh::host::log_value(caps), config.host.workers,
               metrics ? "http://" + metrics->address() + "/metrics" : std::string("off"));
  if (!config.metrics.ready_file.empty() && metrics)
    write_ready_file(config.metrics.ready_file, metrics->address());
  if (!config.host.ready_file.empty()) write_ready_file(config.host.ready_file, server.endpoint());
  server.run();
  if (metrics) metrics->stop();
  if (members) {
    members->stop();
    if (const uint64_t bad = members->decode_errors(); bad > 0)
      spdlog::info("gossip summary: {} malformed_messages={}", server.name(), bad);
  }
  watcher.stop();
  g_server = nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  mesh::host::meshd_config config;
  try {
    config = mesh::host::parse_command_line(argc, argv, MESH_DEFAULT_PLUGIN_DIR);
  } catch (const mesh::host::command_line_exit& e) {
    std::cout << e.out;
    std::cerr << e.err;
    return e.status;
  } catch (const mesh::host::config_error& e) {
    start_logging(e.log);
    spdlog::error("{}", e.what());
    return e.status;
  }
  start_logging(config.log);
  try {
    serve(config);
  } catch (const zmq::error_t& e) {
    spdlog::error("cannot serve on {}: {}", config.host.listen, e.what());
    return 1;
  } catch (const mesh::host::config_error& e) {
    spdlog::error("{}", e.what());
    return e.status;  // 2: nothing was started, least of all unauthenticated
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
