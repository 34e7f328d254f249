#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "gossip_endpoint.hpp"
#include "mesh/discovery/seed_source.hpp"
#include "mesh/discovery/source_address.hpp"

using namespace mesh::discovery;

TEST_SUITE("static") {
  TEST_CASE("static seeds return exactly the endpoints they were given") {
    const std::vector<std::string> given{"tcp://10.0.0.2:7101", "tcp://mesh-1.example:7101",
                                         "tcp://[fd00::2]:7101"};
    auto source = make_static_seeds(given);
    CHECK(source->seeds() == given);
    CHECK(source->seeds() == given);
    CHECK(source->describe() == "static (3 seeds)");
    CHECK(make_static_seeds({"tcp://127.0.0.1:1"})->describe() == "static (1 seed)");
    CHECK(make_static_seeds({})->seeds().empty());
  }

  TEST_CASE("static seeds reject anything that is not tcp://host:port") {
    const std::vector<std::string> junk{"",
                                        "10.0.0.2:7101",
                                        "udp://10.0.0.2:7101",
                                        "tcp://10.0.0.2",
                                        "tcp://10.0.0.2:",
                                        "tcp://10.0.0.2:0",
                                        "tcp://10.0.0.2:65536",
                                        "tcp://10.0.0.2:71o1",
                                        "tcp://:7101",
                                        "tcp://*:7101",
                                        "tcp://a b:7101",
                                        "tcp://a..b:7101",
                                        "tcp://::1:7101",
                                        "tcp://[zz::1]:7101",
                                        "tcp://[]:7101",
                                        "tcp://host:7101/path",
                                        "TCP://host:7101"};
    for (const auto& endpoint : junk) {
      CAPTURE(endpoint);
      CHECK_THROWS_AS(make_static_seeds({"tcp://10.0.0.1:7101", endpoint}), std::invalid_argument);
    }
  }

  TEST_CASE("the error for a bad seed names the flag and the offending endpoint") {
    try {
      make_static_seeds({"10.0.0.2:7101"});
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      const std::string message = e.what();
      CHECK(message.find("--seeds") != std::string::npos);
      CHECK(message.find("'10.0.0.2:7101'") != std::string::npos);
      CHECK(message.find("tcp://host:port") != std::string::npos);
    }
  }

  TEST_CASE("gossip endpoints put IPv6 addresses in brackets") {
    CHECK(make_gossip_endpoint("10.0.0.2", 7101) == "tcp://10.0.0.2:7101");
    CHECK(make_gossip_endpoint("fd00::2", 7101) == "tcp://[fd00::2]:7101");
    CHECK(is_gossip_endpoint(make_gossip_endpoint("fd00::2", 7101)));
  }
}

TEST_SUITE("source address") {
  TEST_CASE("a host on one address connects to its peers from that address") {
    CHECK(connect_from("tcp://127.0.0.2:7100", "tcp://127.0.0.3:7200") ==
          "tcp://127.0.0.2:0;127.0.0.3:7200");
    CHECK(connect_from("tcp://10.1.2.3:7100", "tcp://10.1.2.4:7100") ==
          "tcp://10.1.2.3:0;10.1.2.4:7100");
    CHECK(connect_from("tcp://127.0.0.2:7100", "tcp://localhost:7200") ==
          "tcp://127.0.0.2:0;localhost:7200");
  }
  TEST_CASE("wildcards, names, IPv6 and loopback-to-elsewhere connect as given") {
    CHECK(connect_from("tcp://0.0.0.0:7100", "tcp://127.0.0.3:7200") == "tcp://127.0.0.3:7200");
    CHECK(connect_from("tcp://*:7100", "tcp://127.0.0.3:7200") == "tcp://127.0.0.3:7200");
    CHECK(connect_from("tcp://mesh-1:7100", "tcp://127.0.0.3:7200") == "tcp://127.0.0.3:7200");
    CHECK(connect_from("tcp://[::1]:7100", "tcp://[::1]:7200") == "tcp://[::1]:7200");
    CHECK(connect_from("tcp://127.0.0.2:7100", "tcp://10.0.0.9:7200") == "tcp://10.0.0.9:7200");
    CHECK(connect_from("ipc:///tmp/x", "tcp://127.0.0.3:7200") == "tcp://127.0.0.3:7200");
    CHECK(connect_from("tcp://127.0.0.2:7100", "tcp://127.0.0.1;127.0.0.3:7200") ==
          "tcp://127.0.0.1;127.0.0.3:7200");
  }
}
