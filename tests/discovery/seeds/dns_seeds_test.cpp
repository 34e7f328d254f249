// DNS polling against a real dnsmasq on 127.0.0.1 (a port of its own), started and killed by
// each test. Skipped, with a printed reason, when dnsmasq is not installed.
#include "dns_seeds.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "seeds_test_support.hpp"

using namespace mesh::discovery;
using namespace mesh::discovery::test;

namespace {

constexpr auto k_interval = 200ms;
const std::string k_name = "mesh-headless.test";

std::optional<std::string> find_dnsmasq() {
  for (const char* path : {"/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return std::nullopt;
}

// A dnsmasq answering only from a hosts file we control, on 127.0.0.1:<port>.
class dnsmasq_server {
 public:
  dnsmasq_server(const std::string& binary, const std::string& hosts) {
    write_hosts(hosts);
    for (int attempt = 0; attempt < 5 && !process_; ++attempt) {
      port_ = free_udp_port();
      auto process = std::make_unique<child_process>(
          std::vector<std::string>{
              binary, "--no-daemon", "--conf-file=/dev/null", "--port=" + std::to_string(port_),
              "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
              "--addn-hosts=" + (dir_ / "hosts").string(),
              "--pid-file=" + (dir_ / "dnsmasq.pid").string(), "--log-facility=-"},
          dir_ / "dnsmasq.log");
      // Ready once it accepts TCP on its port; gone at once when the port was taken meanwhile.
      if (wait_until([&] { return !process->running() || tcp_accepts(port_); }, 5s) &&
          process->running()) {
        process_ = std::move(process);
      }
    }
    if (!process_) throw std::runtime_error("dnsmasq did not start (see its log)");
  }

  /// Replaces the hosts file (atomically) and makes dnsmasq re-read it.
  void change_hosts(const std::string& hosts) {
    write_hosts(hosts);
    process_->signal(SIGHUP);
  }

  void kill() { process_.reset(); }

  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  void write_hosts(const std::string& hosts) {
    const auto next = dir_ / "hosts.next";
    {
      std::ofstream out(next);
      out << hosts;
    }
    ::chmod(next.c_str(), 0644);
    std::filesystem::rename(next, dir_ / "hosts");
  }

  temp_dir dir_;
  uint16_t port_ = 0;
  std::unique_ptr<child_process> process_;
};

dns_config config_for(const dnsmasq_server& server, const std::string& name = k_name) {
  dns_config c;
  c.name = name;
  c.gossip_port = 7101;
  c.interval = k_interval;
  c.server = server.server();
  return c;
}

#define REQUIRE_DNSMASQ(binary)                                                \
  const auto binary = find_dnsmasq();                                          \
  if (!binary) {                                                               \
    std::cout << "skipped: dnsmasq is not installed (Debian: dnsmasq-base)\n"; \
    return;                                                                    \
  }

}  // namespace

TEST_SUITE("dns") {
  TEST_CASE("dns seeds list every A and AAAA record of the name with the gossip port") {
    REQUIRE_DNSMASQ(dnsmasq);
    dnsmasq_server server(*dnsmasq, "127.0.0.2 " + k_name + "\n127.0.0.3 " + k_name + "\nfd00::5 " +
                                        k_name + "\n127.0.0.9 other.test\n");
    dns_seeds source(config_for(server));
    const std::vector<std::string> expected{"tcp://127.0.0.2:7101", "tcp://127.0.0.3:7101",
                                            "tcp://[fd00::5]:7101"};
    CHECK(wait_until([&] { return source.seeds() == expected; }));
    CHECK(source.describe().find(k_name) != std::string::npos);
  }

  TEST_CASE("a new address appears within a couple of intervals after the records change") {
    REQUIRE_DNSMASQ(dnsmasq);
    dnsmasq_server server(*dnsmasq, "127.0.0.2 " + k_name + "\n127.0.0.3 " + k_name + "\n");
    auto source = make_dns_seeds(config_for(server));
    REQUIRE(wait_until([&] {
      return source->seeds() ==
             std::vector<std::string>{"tcp://127.0.0.2:7101", "tcp://127.0.0.3:7101"};
    }));
    server.change_hosts("127.0.0.2 " + k_name + "\n127.0.0.3 " + k_name + "\n127.0.0.4 " + k_name +
                        "\n");
    CHECK(wait_until([&] {
      return source->seeds() == std::vector<std::string>{"tcp://127.0.0.2:7101",
                                                         "tcp://127.0.0.3:7101",
                                                         "tcp://127.0.0.4:7101"};
    }));
  }

  TEST_CASE("a name that does not resolve gives no seeds") {
    REQUIRE_DNSMASQ(dnsmasq);
    dnsmasq_server server(*dnsmasq, "127.0.0.2 " + k_name + "\n");
    dns_seeds source(config_for(server, "missing.test"));
    REQUIRE(wait_until([&] { return source.stats().failures >= 3; }));
    CHECK(source.seeds().empty());
  }

  TEST_CASE("failed lookups keep the last good answer") {
    REQUIRE_DNSMASQ(dnsmasq);
    dnsmasq_server server(*dnsmasq, "127.0.0.2 " + k_name + "\n");
    dns_seeds source(config_for(server));
    const std::vector<std::string> good{"tcp://127.0.0.2:7101"};
    REQUIRE(wait_until([&] { return source.seeds() == good; }));

    // The name disappears (NXDOMAIN or REFUSED, depending on the server).
    const auto before = source.stats().failures;
    server.change_hosts("127.0.0.9 other.test\n");
    REQUIRE(wait_until([&] { return source.stats().failures >= before + 3; }));
    CHECK(source.seeds() == good);

    // The server goes away altogether (refused or timed out).
    const auto later = source.stats().failures;
    server.kill();
    REQUIRE(wait_until([&] { return source.stats().failures >= later + 2; }, 15s));
    CHECK(source.seeds() == good);
  }
}

TEST_SUITE("dns config") {
  TEST_CASE("bad dns settings are refused with the flag in the message") {
    const auto with = [](auto change) {
      dns_config c;
      c.name = "mesh-headless.default.svc.cluster.local";
      change(c);
      return c;
    };
    const std::vector<std::pair<dns_config, std::string>> bad{
        {with([](auto& c) { c.name = ""; }), "--dns-name"},
        {with([](auto& c) { c.name = "bad name"; }), "--dns-name"},
        {with([](auto& c) { c.gossip_port = 0; }), "--dns-port"},
        {with([](auto& c) { c.interval = 0ms; }), "--dns-interval"},
        {with([](auto& c) { c.server = "localhost:53"; }), "--dns-server"},
        {with([](auto& c) { c.server = "127.0.0.1:0"; }), "--dns-server"},
        {with([](auto& c) { c.server = "127.0.0.1:"; }), "--dns-server"},
        {with([](auto& c) { c.server = "[::1]:53"; }), "--dns-server"},
    };
    for (const auto& [config, flag] : bad) {
      CAPTURE(flag);
      try {
        make_dns_seeds(config);
        FAIL("no exception");
      } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find(flag) != std::string::npos);
      }
    }
  }
}
