// meshd's command line turned into its configuration (host/config/command_line.hpp), and the
// discovery strategies picked by name (host/config/discovery_registry.hpp), without a process.
#include "config/command_line.hpp"

#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "config/discovery_registry.hpp"
#include "temp_dir.hpp"

using namespace mesh::host;

namespace {

/// parse_command_line on "meshd" followed by `args`; the default plugins directory is `dir`.
meshd_config parse(const std::filesystem::path& dir, std::vector<std::string> args) {
  args.insert(args.begin(), "meshd");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data(), dir);
}

/// The config_error that parsing `args` throws.
config_error refusal(const std::filesystem::path& dir, std::vector<std::string> args) {
  try {
    parse(dir, std::move(args));
  } catch (const config_error& e) {
    return e;
  }
  FAIL("no config_error");
  return config_error("", 0, {});
}

/// The command_line_exit that parsing `args` throws.
command_line_exit cli_exit(const std::filesystem::path& dir, std::vector<std::string> args) {
  try {
    parse(dir, std::move(args));
  } catch (const command_line_exit& e) {
    return e;
  }
  FAIL("no command_line_exit");
  return command_line_exit(0, "", "");
}

}  // namespace

TEST_CASE("a command line of only defaults gives the documented host config") {
  mesh::test::temp_dir plugins;
  const meshd_config c = parse(plugins.path(), {});
  CHECK(c.host.plugins_dir == plugins.path());
  CHECK(c.host.listen == "tcp://127.0.0.1:7100");
  CHECK(c.host.workers >= 1);
  CHECK_FALSE(c.host.capabilities.has_value());
  CHECK(c.host.idle_timeout == std::chrono::minutes(30));
  CHECK(c.host.max_frame == size_t{1} << 20);
  CHECK(c.host.drain_timeout == std::chrono::seconds(10));
  CHECK(c.log.level == "info");
  CHECK(c.log.format == "text");
  CHECK(c.cluster.gossip.empty());
  CHECK(c.cluster.discovery.strategy == "static");
  CHECK(c.cluster.strategy == "rendezvous");
  CHECK(c.metrics.listen.empty());
  CHECK(c.security.curve_secret.empty());
}

TEST_CASE("durations, sizes and comma-separated lists are read into the config") {
  mesh::test::temp_dir plugins, other;
  const meshd_config c = parse(plugins.path(), {"--plugins",       other.path().string(),
                                                "--capabilities",  " counter, chat,,",
                                                "--idle-timeout",  "15s",
                                                "--max-frame",     "64k",
                                                "--scan-interval", "1m",
                                                "--drain-timeout", "2h",
                                                "--workers",       "3",
                                                "--shards",        "64",
                                                "--gossip",        "tcp://127.0.0.1:*",
                                                "--discovery",     "dns",
                                                "--dns-name",      "mesh.local",
                                                "--seeds",         "tcp://a:1, tcp://b:2",
                                                "--log-format",    "json",
                                                "--strategy",      "modulo"});
  CHECK(c.host.plugins_dir == other.path());
  REQUIRE(c.host.capabilities.has_value());
  CHECK(*c.host.capabilities == std::vector<std::string>{"counter", "chat"});
  CHECK(c.host.idle_timeout == std::chrono::seconds(15));
  CHECK(c.host.max_frame == 64 * 1024);
  CHECK(c.host.scan_interval == std::chrono::minutes(1));
  CHECK(c.host.drain_timeout == std::chrono::hours(2));
  CHECK(c.host.workers == 3);
  CHECK(c.host.shards == 64);
  CHECK(c.cluster.gossip == "tcp://127.0.0.1:*");
  CHECK(c.cluster.discovery.strategy == "dns");
  CHECK(c.cluster.discovery.dns.name == "mesh.local");
  CHECK(c.cluster.discovery.seeds == std::vector<std::string>{"tcp://a:1", "tcp://b:2"});
  CHECK(c.cluster.strategy == "modulo");
  CHECK(c.log.format == "json");
}

TEST_CASE("a bad value is one config error that names the flag, with exit status 1") {
  mesh::test::temp_dir plugins;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--idle-timeout", "0"}, "--idle-timeout must be > 0"},
      {{"--idle-timeout", "soon"}, "invalid duration \"soon\""},
      {{"--drain-timeout", "5 weeks"}, "invalid duration \"5 weeks\""},
      {{"--max-frame", "63"}, "--max-frame must be at least 64"},
      {{"--max-frame", "1g"}, "invalid size \"1g\" (use k or m)"},
      {{"--scan-interval", "0ms"}, "--scan-interval must be > 0"},
      {{"--plugins", (plugins.path() / "nope").string()}, "does not exist"},
      {{"--metrics-ready-file", "x"}, "--metrics-ready-file needs --metrics-listen"},
  };
  for (const auto& [args, message] : cases) {
    CAPTURE(message);
    const config_error e = refusal(plugins.path(), args);
    CHECK(std::string(e.what()).find(message) != std::string::npos);
    CHECK(e.status == 1);
  }
}

TEST_CASE("authorized keys without a cluster key is a security error with exit status 2") {
  mesh::test::temp_dir plugins;
  const config_error e = refusal(plugins.path(), {"--authorized-keys", "clients.pub"});
  CHECK(std::string(e.what()) == "--authorized-keys needs --curve-secret");
  CHECK(e.status == 2);
}

TEST_CASE("a config error carries the log format asked for, so it is reported in it") {
  mesh::test::temp_dir plugins;
  const config_error e = refusal(
      plugins.path(), {"--log-format", "json", "--log-level", "warn", "--idle-timeout", "0"});
  CHECK(e.log.format == "json");
  CHECK(e.log.level == "warn");
}

TEST_CASE("what CLI11 refuses, and --help, end the program with CLI11's words and status") {
  mesh::test::temp_dir plugins;
  const command_line_exit help = cli_exit(plugins.path(), {"--help"});
  CHECK(help.status == 0);
  CHECK(help.err.empty());
  CHECK(help.out.find("how to find the first peers: static, multicast, dns") != std::string::npos);
  CHECK(help.out.find("placement: rendezvous, modulo, or a path to a .so") != std::string::npos);

  const command_line_exit discovery = cli_exit(plugins.path(), {"--discovery", "carrier-pigeon"});
  CHECK(discovery.status != 0);
  CHECK(discovery.out.empty());
  CHECK(discovery.err.find("carrier-pigeon") != std::string::npos);
  CHECK(discovery.err.find("static") != std::string::npos);

  CHECK(cli_exit(plugins.path(), {"--workers", "0"}).status != 0);
  CHECK(cli_exit(plugins.path(), {"--no-such-flag"}).status != 0);
}

TEST_CASE("discovery strategies are made by name and an unknown name lists the known ones") {
  CHECK(discovery_strategy_names() == std::vector<std::string>{"static", "multicast", "dns"});
  discovery_settings s;
  s.seeds = {"tcp://127.0.0.1:7101", "tcp://127.0.0.1:7102"};
  const auto source = make_seed_source(s, {"me", "tcp://127.0.0.1:7100"});
  REQUIRE(source != nullptr);
  CHECK(source->describe() == "static (2 seeds)");

  s.strategy = "dns";
  CHECK_THROWS_WITH_AS(make_seed_source(s, {}), "--discovery dns needs --dns-name",
                       std::invalid_argument);
  s.strategy = "gossip-by-fax";
  CHECK_THROWS_WITH_AS(make_seed_source(s, {}),
                       "unknown discovery \"gossip-by-fax\" (expected static, multicast, dns)",
                       std::invalid_argument);
}
