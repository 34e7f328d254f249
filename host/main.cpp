// meshd: the Mesh host. Loads actor plugins, serves requests on a ZeroMQ ROUTER socket.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <thread>

#include "plugin/plugin_watcher.hpp"
#include "server/host_config.hpp"
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

void write_ready_file(const std::filesystem::path& path, const std::string& endpoint) {
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    out << endpoint << "\n";
    if (!out) throw std::runtime_error("cannot write ready file " + tmp);
  }
  std::filesystem::rename(tmp, path);
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
  CLI11_PARSE(app, argc, argv);

  auto logger = spdlog::stderr_color_mt("meshd");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
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

    zmq::context_t context(1);
    mesh::host::server server(config, context);
    mesh::host::plugin_watcher watcher(config.plugins_dir, [&server](mesh::host::plugin_event e) {
      server.post_plugin(std::move(e));
    });
    watcher.scan_once();
    server.apply_pending_plugins();
    watcher.start(config.scan_interval);

    g_server = &server;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);

    std::string caps;
    if (config.capabilities)
      for (const auto& c : *config.capabilities) caps += (caps.empty() ? "" : ",") + c;
    spdlog::info("meshd {} listening on {} (plugins: {}, capabilities: {}, workers: {})",
                 server.name(), server.endpoint(), config.plugins_dir.string(),
                 caps.empty() ? "all declared" : caps, config.workers);
    if (!config.ready_file.empty()) write_ready_file(config.ready_file, server.endpoint());
    server.run();
    watcher.stop();
    g_server = nullptr;
    const auto& s = server.stats();
    const auto& a = server.actor_stats();
    spdlog::info("served {} requests ({} errors, {} timeouts, {} malformed); {} activations",
                 s.requests, s.errors, s.timeouts, s.decode_errors, a.activations.load());
  } catch (const zmq::error_t& e) {
    spdlog::error("cannot serve on {}: {}", config.listen, e.what());
    return 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return 0;
}
