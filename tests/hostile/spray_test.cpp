// S17 of RELIABILITY.md: random bytes and hostile MessagePack at every port of a running meshd
// for a bounded time (the request ROUTER as ZMTP DEALER peers, the gossip XPUB as ZMTP peers, raw
// TCP that is not ZMTP at all on both, and the metrics HTTP port). The host must not crash, its
// resident memory may grow by less than 10 MiB after a warm-up, and a well-behaved client
// calling an actor through it all keeps getting correct answers.
#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <fstream>
#include <random>

#include "test_support.hpp"

using namespace mesh::test;
namespace wire = mesh::wire;

namespace {

using steady = std::chrono::steady_clock;

constexpr auto warm_up = 3s;
constexpr auto spray_for = 15s;
constexpr size_t max_growth_kib = 10 * 1024;
// Under AddressSanitizer freed memory sits in a quarantine (256 MiB by default) before reuse, so
// meshd's RSS says nothing about leaks or bloat: the bound is checked in the ordinary build only.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool rss_is_meaningful = false;
#else
constexpr bool rss_is_meaningful = true;
#endif

/// VmRSS of `pid` in KiB (0 when unreadable).
size_t rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  return 0;
}

/// The port of "tcp://127.0.0.1:PORT" or "127.0.0.1:PORT".
uint16_t port_of(const std::string& endpoint) {
  return static_cast<uint16_t>(std::stoul(endpoint.substr(endpoint.rfind(':') + 1)));
}

/// Inputs that claim much and carry little, nest deep, or are merely big.
std::vector<std::string> hostile_msgpack() {
  std::string deep_maps;
  for (int i = 0; i < 50000; ++i) deep_maps += "\x81\xa1k";
  return {
      std::string("\xdb\xff\xff\xff\xff", 5),          // a 4 GiB string
      std::string("\xc6\xff\xff\xff\xff", 5),          // a 4 GiB binary
      std::string("\xdd\xff\xff\xff\xff", 5),          // a 4G-element array
      std::string("\xdf\xff\xff\xff\xff", 5),          // a 4G-entry map
      std::string("\xc9\xff\xff\xff\xff\x01", 6),      // a 4 GiB ext
      std::string(100000, '\x91') + "\xc0",            // arrays nested 100 000 deep
      deep_maps + "\xc0",                              // maps nested 50 000 deep
      std::string(1000000, '\xc0'),                    // 1 MB of nils
      std::string("\xdd\x00\x0f\x42\x40", 5) + std::string(1000000, '\xc0'),  // ... in an array
      std::string("\xc1", 1),                          // the never-used byte
      std::string(),                                   // nothing
  };
}

std::string random_bytes(std::mt19937& rng, size_t max_len) {
  std::string s(std::uniform_int_distribution<size_t>(0, max_len)(rng), '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

/// A well-formed request envelope whose payload (or id) is `hostile`.
std::string envelope_around(const std::string& hostile, bool as_id) {
  wire::request req;
  req.kind = wire::op::call;
  req.rid = 7;
  req.capability = "counter";
  req.module = "Counter";
  const auto* bytes = reinterpret_cast<const uint8_t*>(hostile.data());
  static const std::string id = "hostile";
  if (as_id) {
    req.id = {bytes, hostile.size()};
  } else {
    req.id = {reinterpret_cast<const uint8_t*>(id.data()), id.size()};
    req.payload = {bytes, hostile.size()};
  }
  wire::buffer buf;
  wire::encode_request(buf, req);
  return std::string(reinterpret_cast<const char*>(buf.data()), buf.size());
}

/// Opens a TCP connection to 127.0.0.1:`port`, writes `bytes` (as much as goes in 200 ms),
/// reads for up to `read_for`, and closes. Returns the bytes read.
std::string tcp_exchange(uint16_t port, const std::string& bytes,
                         std::chrono::milliseconds read_for = 50ms) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  timeval tv{0, 200000};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  tv.tv_sec = static_cast<time_t>(read_for.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>(read_for.count() % 1000 * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string got;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    char buf[4096];
    const auto end = steady::now() + read_for;
    while (steady::now() < end) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return got;
}

/// Bytes for a raw TCP connection to a ZeroMQ port: plain garbage, a greeting with a mechanism
/// that does not exist, or a valid NULL greeting followed by a frame that claims 2^62 bytes.
std::string not_zmtp(std::mt19937& rng) {
  const std::string signature("\xff\0\0\0\0\0\0\0\x01\x7f", 10);
  std::string greeting = signature + std::string("\x03\x00", 2);
  switch (rng() % 4) {
    case 0:
      return random_bytes(rng, 4096);
    case 1: {
      std::string mech = random_bytes(rng, 20);
      mech.resize(20, 'X');
      return greeting + mech + std::string(32, '\0');
    }
    case 2: {
      std::string mech("NULL");
      mech.resize(20, '\0');
      // READY command claiming to be a DEALER, then a long frame of 2^62 bytes.
      const std::string ready = std::string("\x04\x19\x05READY\x0bSocket-Type\0\0\0\x06" "DEALER", 27);
      return greeting + mech + std::string(32, '\0') + ready +
             std::string("\x02\x40\0\0\0\0\0\0\0", 9) + random_bytes(rng, 1000);
    }
    default:
      return signature + random_bytes(rng, 200);
  }
}

/// Bytes for the metrics HTTP port: garbage, oversized headers, broken requests.
std::string not_http(std::mt19937& rng) {
  switch (rng() % 6) {
    case 0:
      return random_bytes(rng, 4096);
    case 1:
      return "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n";
    case 2: {
      std::string many = "GET /metrics HTTP/1.1\r\n";
      for (int i = 0; i < 5000; ++i) many += "X-" + std::to_string(i) + ": y\r\n";
      return many + "\r\n";
    }
    case 3:
      return "GET /" + std::string(100000, 'u') + " HTTP/1.1\r\n\r\n";
    case 4:
      return "POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n" +
             random_bytes(rng, 1000);
    default:
      return "POST /metrics HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\nxx";
  }
}

}  // namespace

TEST_CASE("hostile bytes at every port neither crash nor bloat the host, and clients are served") {
  temp_dir dir;
  // glibc gives each thread that allocates its own malloc arena, lazily: a worker or ZeroMQ
  // thread that first allocates after the warm-up adds its arena to the growth measured, which
  // is no bloat. Two arenas (inherited by meshd) keep the figure to what is live.
  ::setenv("MALLOC_ARENA_MAX", "2", 1);
  meshd_process host(MESH_EXAMPLE_PLUGIN_DIR,
                     {"--name", "spray", "--gossip", "tcp://127.0.0.1:*", "--metrics-listen",
                      "127.0.0.1:0", "--metrics-ready-file", (dir / "metrics").string(),
                      "--idle-timeout", "10m"});
  const pid_t pid = host.process().pid();
  REQUIRE(wait_until([&] { return std::filesystem::exists(dir / "metrics") &&
                                  !read_file(dir / "metrics").empty(); }));
  std::string metrics = read_file(dir / "metrics");
  while (!metrics.empty() && metrics.back() == '\n') metrics.pop_back();
  std::string gossip;
  {
    client c(host.endpoint());
    REQUIRE(wait_until([&] {
      const auto r = c.control(wire::op::members);
      for (const auto& m : r.body["members"])
        if (m["self"] == true) gossip = m["gossip"].get<std::string>();
      return !gossip.empty();
    }));
  }
  const uint16_t request_port = port_of(host.endpoint());
  const uint16_t gossip_port = port_of(gossip);
  const uint16_t metrics_port = port_of(metrics);
  const auto hostile = hostile_msgpack();

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> router_frames{0}, gossip_frames{0}, tcp_conns{0}, http_conns{0};
  std::vector<std::thread> sprayers;

  // The request ROUTER, as DEALER peers: random frames, multi-frame and empty messages, frames
  // over --max-frame (1 MiB) and over ZeroMQ's cap (16 MiB), hostile msgpack bare and inside a
  // well-formed envelope; sockets come and go.
  sprayers.emplace_back([&] {
    std::mt19937 rng(1);
    zmq::context_t ctx(1);
    const std::string big(2 << 20, '\x80'), huge(17 << 20, '\x80');
    for (uint64_t i = 0; !stop.load(); ++i) {
      zmq::socket_t s(ctx, zmq::socket_type::dealer);
      s.set(zmq::sockopt::linger, 0);
      s.set(zmq::sockopt::sndhwm, 100);
      s.connect(host.endpoint());
      for (int k = 0; k < 100 && !stop.load(); ++k) {
        std::vector<std::string> frames;
        switch (rng() % 8) {
          case 0: frames = {random_bytes(rng, 2048)}; break;
          case 1: frames = {random_bytes(rng, 64), "", random_bytes(rng, 64), ""}; break;
          case 2: frames = {""}; break;
          case 3: frames = {"", envelope_around("\xc0", false)}; break;
          case 4: frames = {hostile[rng() % hostile.size()]}; break;
          case 5: frames = {envelope_around(hostile[rng() % hostile.size()], rng() % 2 == 0)}; break;
          case 6: frames = {(rng() % 50 == 0) ? huge : big}; break;
          default: frames = {envelope_around(random_bytes(rng, 64), false)}; break;
        }
        for (size_t f = 0; f < frames.size(); ++f)
          (void)s.send(zmq::buffer(frames[f]), f + 1 < frames.size()
                                                   ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                                                   : zmq::send_flags::dontwait);
        router_frames.fetch_add(frames.size());
        zmq::message_t reply;
        while (s.recv(reply, zmq::recv_flags::dontwait)) {
        }
        std::this_thread::sleep_for(2ms);
      }
    }
  });

  // The gossip XPUB, as ZMTP peers: upstream garbage and hostile msgpack from XSUB peers,
  // subscriptions to random topics, and peers of a type XPUB does not talk to.
  sprayers.emplace_back([&] {
    std::mt19937 rng(2);
    zmq::context_t ctx(1);
    while (!stop.load()) {
      zmq::socket_t up(ctx, zmq::socket_type::xsub);
      up.set(zmq::sockopt::linger, 0);
      up.connect(gossip);
      zmq::socket_t wrong(ctx, zmq::socket_type::dealer);
      wrong.set(zmq::sockopt::linger, 0);
      wrong.connect(gossip);
      for (int k = 0; k < 100 && !stop.load(); ++k) {
        std::string m;
        switch (rng() % 4) {
          case 0: m = random_bytes(rng, 2048); break;
          case 1: m = hostile[rng() % hostile.size()]; break;
          case 2: m = std::string(1, static_cast<char>(rng() % 2)) + random_bytes(rng, 256); break;
          default: m = std::string("\x82\xa1v\x01\xa4" "from", 9) + hostile[rng() % hostile.size()];
        }
        (void)up.send(zmq::buffer(m), zmq::send_flags::dontwait);
        (void)wrong.send(zmq::buffer(m), zmq::send_flags::dontwait);
        gossip_frames.fetch_add(2);
        zmq::message_t drop;
        while (up.recv(drop, zmq::recv_flags::dontwait)) {
        }
        std::this_thread::sleep_for(2ms);
      }
    }
  });

  // Raw TCP that is not ZMTP, at both ZeroMQ ports.
  sprayers.emplace_back([&] {
    std::mt19937 rng(3);
    while (!stop.load()) {
      tcp_exchange(rng() % 2 ? request_port : gossip_port, not_zmtp(rng), 10ms);
      tcp_conns.fetch_add(1);
    }
  });

  // The metrics HTTP port: garbage, huge headers, broken requests.
  sprayers.emplace_back([&] {
    std::mt19937 rng(4);
    while (!stop.load()) {
      tcp_exchange(metrics_port, not_http(rng), 20ms);
      http_conns.fetch_add(1);
    }
  });

  // A well-behaved client all along: each answer must be the next count.
  std::atomic<uint64_t> good{0}, bad{0};
  std::string first_bad;
  std::thread steady_client([&] {
    client c(host.endpoint());
    int64_t expected = 1;
    while (!stop.load()) {
      try {
        auto r = c.call("counter", "Counter", "steady", {{"op", "incr"}}, std::nullopt, 2000);
        if (r.ok && r.body.value("count", int64_t{-1}) == expected) {
          good.fetch_add(1);
          ++expected;
          std::this_thread::sleep_for(2ms);  // a client, not a load generator
          continue;
        }
        if (bad.fetch_add(1) == 0) first_bad = r.code + ": " + r.message + " " + r.body.dump();
        if (r.ok) expected = r.body.value("count", expected) + 1;
      } catch (const std::exception& e) {
        if (bad.fetch_add(1) == 0) first_bad = e.what();
      }
      std::this_thread::sleep_for(20ms);
    }
  });

  const auto start = steady::now();
  std::this_thread::sleep_for(warm_up);
  const size_t rss_warm = rss_kib(pid);
  size_t rss_peak = rss_warm;
  while (steady::now() - start < spray_for && host.process().running()) {
    std::this_thread::sleep_for(500ms);
    rss_peak = std::max(rss_peak, rss_kib(pid));
  }
  stop.store(true);
  for (auto& t : sprayers) t.join();
  steady_client.join();
  REQUIRE(host.process().running());
  // What the host still holds once it has caught up: on a loaded machine its threads may still
  // be draining queued frames and closing the sprayers' connections for a few seconds (once 23
  // MiB over the warm-up 0.5 s after the spray, beside other tests). Memory it keeps for good
  // (bloat, a leak) does not go away however long this waits.
  size_t rss_end = 0;
  for (const auto settle_end = steady::now() + 10s;;) {
    std::this_thread::sleep_for(500ms);
    rss_end = rss_kib(pid);
    if (rss_end < rss_warm + max_growth_kib || steady::now() > settle_end) break;
  }

  MESSAGE("sent: router frames " << router_frames.load() << ", gossip frames "
                                 << gossip_frames.load() << ", raw TCP connections "
                                 << tcp_conns.load() << ", HTTP connections " << http_conns.load());
  MESSAGE("VmRSS KiB: after warm-up " << rss_warm << ", peak " << rss_peak << ", end " << rss_end
                                      << ", growth "
                                      << static_cast<int64_t>(rss_end) - static_cast<int64_t>(rss_warm));
  MESSAGE("steady client during spray: " << good.load() << " correct, " << bad.load()
                                         << " not (" << first_bad << ")");
  CHECK(router_frames.load() > 1000);
  CHECK(gossip_frames.load() > 1000);
  CHECK(tcp_conns.load() > 100);
  CHECK(http_conns.load() > 50);
  CHECK(rss_warm > 0);
  if (rss_is_meaningful) CHECK(rss_end < rss_warm + max_growth_kib);
  CHECK(good.load() > 50);
  CHECK(bad.load() * 20 <= good.load());  // at least ~95% correct under spray

  // After the spray every call is answered correctly, and every port still works.
  client c(host.endpoint());
  auto first = c.call("counter", "Counter", "steady", {{"op", "get"}});
  REQUIRE(first.ok);
  int64_t count = first.body["count"].get<int64_t>();
  for (int i = 0; i < 20; ++i) {
    auto r = c.call("counter", "Counter", "steady", {{"op", "incr"}}, std::nullopt, 2000);
    REQUIRE(r.ok);
    CHECK(r.body["count"].get<int64_t>() == ++count);
  }
  const std::string page = tcp_exchange(metrics_port, "GET /metrics HTTP/1.0\r\n\r\n", 2s);
  CHECK(page.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(c.control(wire::op::members).ok);
  CHECK(host.process().running());
}
