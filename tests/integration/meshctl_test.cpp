// The real meshctl binary against a real meshd on 127.0.0.1: what it prints and how it exits.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>

#include "test_support.hpp"

using namespace mesh::test;

namespace {

const std::filesystem::path examples = MESH_EXAMPLE_PLUGIN_DIR;
const std::filesystem::path fixtures = MESH_FIXTURE_PLUGIN_DIR;

/// How a finished (or killed) command went.
struct command_result : mesh::tools::command_output {
  /// stdout parsed as one JSON document (fails the test with the output if it is not).
  json doc() const {
    INFO("stdout: " << out << "\nstderr: " << err);
    json parsed = json::parse(out, nullptr, false);
    REQUIRE_FALSE(parsed.is_discarded());
    return parsed;
  }
};

/// Runs `argv` with stdin from /dev/null, capturing stdout and stderr, with `extra_env` added to
/// the environment. The command is killed (SIGKILL) if it has not finished after `timeout`.
command_result run_command(const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout = 30s,
                           const std::vector<std::string>& extra_env = {}) {
  return {mesh::tools::run_command(argv, timeout, extra_env)};
}

/// Runs meshctl with `args` (endpoint included by the caller where needed).
command_result meshctl(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
  // Scripts read the JSON document; the text output has a test of its own.
  args.insert(args.begin(), {MESHCTL_PATH, "--json"});
  return run_command(args, 30s, env);
}

/// A host serving Counter, the three examples and the Probe fixture.
struct ctl_host {
  temp_dir plugins;
  std::optional<meshd_process> host;
  explicit ctl_host(std::vector<std::string> extra = {}) {
    install_plugin(examples / "libmesh_counter.so", plugins.path());
    install_plugin(examples / "libmesh_examples.so", plugins.path());
    install_plugin(fixtures / "libfixture_probe.so", plugins.path());
    host.emplace(plugins.path(), std::move(extra));
  }
  /// meshctl against this host.
  command_result ctl(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--connect", host->endpoint()});
    return meshctl(std::move(args));
  }
};

/// Closes a file descriptor on scope exit.
struct fd_owner {
  int fd = -1;
  ~fd_owner() { close(); }
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

/// A loopback TCP port that is bound (so nobody else takes it) but not listening: connecting to
/// it is refused.
class dead_port {
 public:
  dead_port() {
    fd_.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_.fd < 0) throw std::runtime_error("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd_.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("bind failed");
    socklen_t len = sizeof addr;
    if (::getsockname(fd_.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("getsockname failed");
    endpoint_ = "tcp://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  }
  const std::string& endpoint() const noexcept { return endpoint_; }

 private:
  fd_owner fd_;
  std::string endpoint_;
};

/// Checks an error document and returns its code.
std::string error_code(const command_result& r) {
  const json d = r.doc();
  INFO("stdout: " << r.out);
  CHECK(d["ok"] == false);
  CHECK(d["error"]["message"].is_string());
  CHECK_FALSE(d["error"]["message"].get<std::string>().empty());
  return d["error"]["code"].get<std::string>();
}

}  // namespace

TEST_CASE("meshctl call prints the actor and its reply, and the next call reuses the activation") {
  ctl_host h;
  const std::vector<std::string> incr = {"call",      "--capability", "counter",
                                         "--module",  "Counter",      "--id",
                                         "c1",        "--payload",    R"({"op":"incr"})",
                                         "--init-arg", R"({"start":10})"};
  auto first = h.ctl(incr);
  REQUIRE(first.status == 0);
  CHECK(first.out.rfind(R"({"ok":true,)", 0) == 0);  // one compact document, "ok" first
  CHECK(std::count(first.out.begin(), first.out.end(), '\n') == 1);
  const json d1 = first.doc();
  CHECK(d1["ok"] == true);
  CHECK(d1["reply"] == json{{"count", 11}});
  CHECK(d1["actor"]["module"] == "Counter");
  CHECK(d1["actor"]["id"] == "c1");
  CHECK(d1["actor"]["host"].get<std::string>().find(':') != std::string::npos);
  CHECK(d1["actor"]["activation"].get<uint64_t>() > 0);

  auto second = h.ctl(incr);  // init-arg is ignored: the actor exists
  REQUIRE(second.status == 0);
  const json d2 = second.doc();
  CHECK(d2["reply"] == json{{"count", 12}});
  CHECK(d2["actor"]["activation"] == d1["actor"]["activation"]);
  CHECK(d2["actor"]["host"] == d1["actor"]["host"]);
}

TEST_CASE("meshctl --pretty indents the same document and global options work after the verb") {
  ctl_host h;
  auto r = meshctl({"call", "--capability", "counter", "--module", "Counter", "--id", "p",
                    "--payload", R"({"op":"get"})", "--connect", h.host->endpoint(), "--pretty"});
  REQUIRE(r.status == 0);
  CHECK(r.out.find("\n  \"ok\": true") != std::string::npos);
  CHECK(r.doc()["reply"] == json{{"count", 0}});
}

TEST_CASE("meshctl cast prints ok and the message reaches the actor") {
  ctl_host h;
  auto cast = h.ctl({"cast", "--capability", "counter", "--module", "Counter", "--id", "k",
                     "--payload", R"({"op":"incr","by":5})", "--init-arg", R"({"start":100})"});
  REQUIRE(cast.status == 0);
  CHECK(cast.doc() == json{{"ok", true}});
  // Requests to one actor run in the order the host received them: the cast came first.
  auto get = h.ctl({"call", "--capability", "counter", "--module", "Counter", "--id", "k",
                    "--payload", R"({"op":"get"})"});
  REQUIRE(get.status == 0);
  CHECK(get.doc()["reply"] == json{{"count", 105}});
}

TEST_CASE("meshctl exits 1 with the wire error code when the host answers with an error") {
  ctl_host h;
  auto unknown = h.ctl({"call", "--capability", "counter", "--module", "Nope", "--id", "x",
                        "--payload", "{}"});
  CHECK(unknown.status == 1);
  CHECK(error_code(unknown) == "unknown_module");
  CHECK(unknown.out.rfind(R"({"ok":false,"error":{"code":"unknown_module",)", 0) == 0);

  auto rejected = h.ctl({"call", "--capability", "game", "--module", "GameActor", "--id", "p",
                         "--payload", R"({"action":"fly"})"});
  CHECK(rejected.status == 1);
  CHECK(error_code(rejected) == "rejected");
  CHECK(rejected.doc()["error"]["message"].get<std::string>().find("fly") != std::string::npos);

  auto cast = h.ctl({"cast", "--capability", "nope", "--module", "Counter", "--id", "x"});
  CHECK(cast.status == 1);
  CHECK(error_code(cast) == "unknown_capability");
}

TEST_CASE("meshctl exits 1 with timeout when the host's own deadline passes") {
  ctl_host h;
  auto r = h.ctl({"call", "--capability", "probe", "--module", "Probe", "--id", "slow",
                  "--payload", R"({"op":"sleep","ms":6000})", "--timeout-ms", "1000"});
  // meshctl waits 2000 ms itself: exit 1 means the host's own timeout reply came first.
  CHECK(r.status == 1);
  CHECK(error_code(r) == "timeout");
  CHECK(r.elapsed >= 1000ms);
  CHECK(r.elapsed < 5000ms);
}

TEST_CASE("meshctl refuses bad arguments with exit 2 and bad_argument, sending nothing") {
  ctl_host h;
  auto bad_payload = h.ctl({"call", "--capability", "counter", "--module", "Counter", "--id",
                            "b", "--payload", "{not json"});
  CHECK(bad_payload.status == 2);
  CHECK(error_code(bad_payload) == "bad_argument");
  CHECK(bad_payload.doc()["error"]["message"].get<std::string>().find("--payload") !=
        std::string::npos);

  auto bad_init = h.ctl({"call", "--capability", "counter", "--module", "Counter", "--id", "b",
                         "--payload", R"({"op":"incr"})", "--init-arg", "[1,"});
  CHECK(bad_init.status == 2);
  CHECK(error_code(bad_init) == "bad_argument");

  auto missing = h.ctl({"call", "--capability", "counter", "--id", "b"});
  CHECK(missing.status == 2);
  CHECK(error_code(missing) == "bad_argument");

  auto range = h.ctl({"ping", "--timeout-ms", "0"});
  CHECK(range.status == 2);
  CHECK(error_code(range) == "bad_argument");

  // Nothing reached the actor: its first activation now starts from the given init.
  auto get = h.ctl({"call", "--capability", "counter", "--module", "Counter", "--id", "b",
                    "--payload", R"({"op":"get"})", "--init-arg", R"({"start":7})"});
  REQUIRE(get.status == 0);
  CHECK(get.doc()["reply"] == json{{"count", 7}});
}

TEST_CASE("meshctl exits 3 in bounded time when no host answers") {
  dead_port nobody;
  auto call = meshctl({"--connect", nobody.endpoint(), "call", "--capability", "counter",
                       "--module", "Counter", "--id", "x", "--payload", R"({"op":"get"})",
                       "--timeout-ms", "300"});
  CHECK(call.status == 3);
  CHECK(error_code(call) == "timeout");
  CHECK(call.elapsed >= 300ms);
  CHECK(call.elapsed < 10s);  // 300 ms + meshctl's 1000 ms margin, plus a slow machine

  auto ping = meshctl({"--connect", nobody.endpoint(), "ping", "--timeout-ms", "300"});
  CHECK(ping.status == 3);
  CHECK(error_code(ping) == "timeout");
  CHECK(ping.elapsed < 10s);
}

TEST_CASE("MESH_CONNECT sets the endpoint and --connect overrides it") {
  ctl_host h;
  auto env = meshctl({"ping"}, {"MESH_CONNECT=" + h.host->endpoint()});
  REQUIRE(env.status == 0);
  CHECK(env.doc()["ok"] == true);
  dead_port nobody;
  auto overridden = meshctl({"--connect", nobody.endpoint(), "ping", "--timeout-ms", "300"},
                            {"MESH_CONNECT=" + h.host->endpoint()});
  CHECK(overridden.status == 3);
}

TEST_CASE("meshctl shard computes the documented shard without any host") {
  dead_port nobody;  // a host that is not there must not matter
  auto r = meshctl({"--connect", nobody.endpoint(), "shard", "player_1"});
  REQUIRE(r.status == 0);
  CHECK(r.doc() == json{{"ok", true}, {"id", "player_1"}, {"shard", 2486}, {"shards", 4096}});
  CHECK(r.elapsed < 10s);
  auto sixteen = meshctl({"shard", "chat:room-42", "--shards", "16"});
  REQUIRE(sixteen.status == 0);
  CHECK(sixteen.doc()["shard"] == 9);
  auto three = meshctl({"shard", "GameActor/player_2", "--shards", "3"});
  CHECK(three.doc()["shard"] == 2);
}

TEST_CASE("meshctl shard --remote and ping answer from the host with its shard count") {
  ctl_host h({"--shards", "16"});
  auto r = h.ctl({"shard", "player_1", "--remote"});
  REQUIRE(r.status == 0);
  CHECK(r.doc() == json{{"ok", true}, {"id", "player_1"}, {"shard", 6}, {"shards", 16}});
  auto p = h.ctl({"ping"});
  REQUIRE(p.status == 0);
  const json d = p.doc();
  CHECK(d["shards"] == 16);
  CHECK(d["host"].get<std::string>().find(':') != std::string::npos);
  CHECK(d["rtt_ms"].get<double>() >= 0);
}

TEST_CASE("meshctl register-capabilities changes what capabilities reports and what is served") {
  ctl_host h({"--capabilities", "counter"});
  auto before = h.ctl({"capabilities"});
  REQUIRE(before.status == 0);
  const json b = before.doc();
  CHECK(b["capabilities"] == json::array({"counter"}));
  const json modules = json::array(
      {{{"module", "ChatActor"}, {"capability", "chat"}, {"plugin", "libmesh_examples.so"}},
       {{"module", "Counter"}, {"capability", "counter"}, {"plugin", "libmesh_counter.so"}},
       {{"module", "GameActor"}, {"capability", "game"}, {"plugin", "libmesh_examples.so"}},
       {{"module", "PaymentActor"}, {"capability", "payment"}, {"plugin", "libmesh_examples.so"}},
       {{"module", "PlayerActor"}, {"capability", "chat"}, {"plugin", "libmesh_examples.so"}},
       {{"module", "Probe"}, {"capability", "probe"}, {"plugin", "libfixture_probe.so"}}});
  CHECK(b["modules"] == modules);

  const std::vector<std::string> move = {"call",     "--capability", "game",
                                         "--module", "GameActor",    "--id",
                                         "p1",       "--payload",    R"({"action":"get"})"};
  auto refused = h.ctl(move);
  CHECK(refused.status == 1);
  CHECK(error_code(refused) == "capability_not_served");

  auto reg = h.ctl({"register-capabilities", "game,chat"});
  REQUIRE(reg.status == 0);
  CHECK(reg.doc() ==
        json{{"ok", true}, {"capabilities", json::array({"chat", "counter", "game"})}});
  auto more = h.ctl({"register-capabilities", "payment", "later"});  // separate arguments too
  REQUIRE(more.status == 0);
  CHECK(more.doc()["capabilities"] ==
        json::array({"chat", "counter", "game", "later", "payment"}));

  auto after = h.ctl({"capabilities"});
  REQUIRE(after.status == 0);
  CHECK(after.doc()["capabilities"] ==
        json::array({"chat", "counter", "game", "later", "payment"}));
  CHECK(after.doc()["modules"] == modules);
  CHECK(after.doc()["host"] == b["host"]);
  auto served = h.ctl(move);
  CHECK(served.status == 0);
  CHECK(served.doc()["reply"]["player"] == "p1");
}

TEST_CASE("a GameActor crash through meshctl exits 1 with actor_error and the next call gets a "
          "fresh activation") {
  ctl_host h;
  auto game = [&](const std::string& payload, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"call", "--capability", "game", "--module",
                                     "GameActor", "--id", "hero", "--payload", payload};
    args.insert(args.end(), extra.begin(), extra.end());
    return h.ctl(args);
  };
  auto scored = game(R"({"action":"score","points":150})", {"--init-arg", R"({"level":3})"});
  REQUIRE(scored.status == 0);
  const json s = scored.doc();
  CHECK(s["reply"]["score"] == 150);
  CHECK(s["reply"]["level"] == 4);

  auto crashed = game(R"({"action":"crash"})");
  CHECK(crashed.status == 1);
  CHECK(error_code(crashed) == "actor_error");

  auto after = game(R"({"action":"get"})", {"--init-arg", R"({"level":5})"});
  REQUIRE(after.status == 0);
  const json a = after.doc();
  CHECK(a["actor"]["activation"] != s["actor"]["activation"]);
  CHECK(a["reply"]["score"] == 0);  // the state went with the old activation
  CHECK(a["reply"]["level"] == 5);  // and the new one was built with this call's init-arg
}

TEST_CASE("meshctl prints text for people without --json, errors on stderr") {
  ctl_host h;
  auto text = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {MESHCTL_PATH, "--connect", h.host->endpoint()});
    return run_command(args);
  };
  auto call = text({"call", "--capability", "counter", "--module", "Counter", "--id", "t1",
                    "--payload", R"({"op":"incr","by":3})"});
  REQUIRE(call.status == 0);
  CHECK(call.out.find("Counter t1 on ") == 0);
  CHECK(call.out.find(R"({"count":3})") != std::string::npos);

  auto members = text({"members"});
  REQUIRE(members.status == 0);
  CHECK(members.out.find("NAME") != std::string::npos);
  CHECK(members.out.find(h.host->endpoint()) != std::string::npos);

  auto failed = text({"call", "--capability", "counter", "--module", "Nope", "--id", "x"});
  CHECK(failed.status == 1);
  CHECK(failed.out.empty());
  CHECK(failed.err.find("unknown_module") != std::string::npos);
}

TEST_CASE("meshctl actors lists live activations page by page and stats counts what happened") {
  ctl_host h;
  std::set<std::string> made;
  for (int i = 0; i < 7; ++i) {
    const std::string id = "live-" + std::to_string(i);
    auto r = h.ctl({"call", "--capability", "counter", "--module", "Counter", "--id", id,
                    "--payload", R"({"op":"incr","by":1})"});
    REQUIRE(r.status == 0);
    made.insert(id);
  }
  auto game = h.ctl({"call", "--capability", "game", "--module", "GameActor", "--id", "g",
                     "--payload", R"({"action":"get"})"});
  REQUIRE(game.status == 0);

  // Page by page with the printed cursor: every Counter exactly once, and no GameActor; each
  // page names the host that answered, as ping does.
  auto ping = h.ctl({"ping"});
  REQUIRE(ping.status == 0);
  const std::string host_name = ping.doc()["host"].get<std::string>();
  REQUIRE_FALSE(host_name.empty());
  std::multiset<std::string> seen;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    std::vector<std::string> args = {"actors", "--module", "Counter", "--limit", "3"};
    if (!after.empty()) args.insert(args.end(), {"--after", after});
    auto r = h.ctl(args);
    REQUIRE(r.status == 0);
    const json d = r.doc();
    CHECK(d["total"] == 7);
    CHECK(d["host"] == host_name);
    CHECK(d["actors"].size() <= 3);
    for (const auto& a : d["actors"]) {
      CHECK(a["mod"] == "Counter");
      seen.insert(a["id"].get<std::string>());
    }
    if (d["next"].is_null()) break;
    after = d["next"].get<std::string>();
  }
  CHECK(seen == std::multiset<std::string>(made.begin(), made.end()));
  auto all = h.ctl({"actors", "--all", "--limit", "2"});
  REQUIRE(all.status == 0);
  CHECK(all.doc()["actors"].size() == 8);

  auto stats = h.ctl({"stats"});
  REQUIRE(stats.status == 0);
  const json s = stats.doc();
  CHECK(s["stats"]["requests"]["call"]["ok"] == 8);
  CHECK(s["stats"]["actors"]["live"] == 8);
  auto everyone = h.ctl({"stats", "--all"});
  REQUIRE(everyone.status == 0);
  CHECK(everyone.doc()["hosts"].size() == 1);
}
