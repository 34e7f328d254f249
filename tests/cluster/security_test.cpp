// CurveZMQ authentication (docs/SECURITY.md): key files, and RELIABILITY.md's S15 with real
// meshd hosts on 127.0.0.1: a keyed cluster serves its hosts and authorized clients; a client
// with an unknown key or no key, and a host with another cluster key, get nothing through.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include "cluster_support.hpp"
#include <mesh/security/curve_keys.hpp>

namespace mesh::test {
namespace {

namespace sec = mesh::security;

/// Runs meshctl keygen (the real tool) for `path` and reads the pair back.
sec::key_pair keygen(const std::filesystem::path& path, const std::string& name = {}) {
  std::vector<std::string> argv = {MESHCTL_PATH, "keygen", "--out", path.string()};
  if (!name.empty()) argv.insert(argv.end(), {"--name", name});
  child_process p(argv, path.string() + ".log");
  const auto rc = p.wait(10s);
  if (rc != 0)
    throw std::runtime_error("meshctl keygen failed: " + read_file(path.string() + ".log"));
  return sec::read_key_pair(path);
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path) << text;
}

json stats_of(client& c) {
  auto r = c.control(wire::op::stats);
  REQUIRE(r.ok);
  return r.body["stats"];
}

uint64_t denied(const json& stats, const char* socket, const char* reason) {
  return stats["auth"]["denied"][socket][reason].get<uint64_t>();
}

/// Starts meshd with `args` (after --plugins and a free --listen), and returns its exit code
/// if it exits within 10 s.
std::optional<int> exit_code_of(const std::vector<std::string>& args,
                                const std::filesystem::path& log) {
  std::vector<std::string> argv = {MESHD_PATH, "--listen", "tcp://127.0.0.1:*", "--plugins",
                                   MESH_EXAMPLE_PLUGIN_DIR};
  argv.insert(argv.end(), args.begin(), args.end());
  child_process p(argv, log);
  return p.wait(10s);
}

}  // namespace

TEST_CASE("keygen writes a private key pair and a public line that reads back as authorized") {
  temp_dir dir;
  const auto pair = keygen(dir / "ann.key", "ann laptop");
  CHECK(sec::is_z85_key(pair.public_key));
  CHECK(sec::is_z85_key(pair.secret_key));
  struct stat st {};
  REQUIRE(::stat((dir / "ann.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(sec::read_public_key(dir / "ann.key.pub") == pair.public_key);
  CHECK(sec::read_public_key(dir / "ann.key") == pair.public_key);
  const auto keys = sec::read_authorized_keys(dir / "ann.key.pub");
  REQUIRE(keys.size() == 1);
  CHECK(keys[0].name == "ann laptop");
  // keygen refuses to overwrite without --force.
  child_process again({MESHCTL_PATH, "keygen", "--out", (dir / "ann.key").string()},
                      dir / "again.log");
  CHECK(again.wait(10s) == 2);
  CHECK(sec::read_key_pair(dir / "ann.key").secret_key == pair.secret_key);
}

TEST_CASE("a keyed host refuses to start on a missing or malformed key file, with exit code 2") {
  temp_dir dir;
  const auto cluster = keygen(dir / "cluster.key");
  const auto other = sec::generate_key_pair();
  write_text(dir / "mismatched.key",
             "public-key: " + other.public_key + "\nsecret-key: " + cluster.secret_key + "\n");
  write_text(dir / "garbage.key", "this is not a key\n");
  write_text(dir / "bad_authorized", cluster.public_key + "\nshort-key\n");
  const std::string key = (dir / "cluster.key").string();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--curve-secret", (dir / "missing.key").string()}, "missing.key"},
      {{"--curve-secret", (dir / "garbage.key").string()}, "garbage.key:1"},
      {{"--curve-secret", (dir / "mismatched.key").string()}, "does not belong"},
      {{"--curve-secret", (dir / "cluster.key.pub").string()}, "cluster.key.pub"},
      {{"--curve-secret", key, "--authorized-keys", (dir / "bad_authorized").string()},
       "bad_authorized:2"},
      {{"--curve-secret", key, "--authorized-keys", (dir / "nothing").string()}, "nothing"},
      {{"--authorized-keys", (dir / "cluster.key.pub").string()}, "needs --curve-secret"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto log = dir / ("meshd-" + std::to_string(i) + ".log");
    CAPTURE(cases[i].second);
    CHECK(exit_code_of(cases[i].first, log) == 2);
    const std::string text = read_file(log);
    CHECK(text.find(cases[i].second) != std::string::npos);
    CHECK(text.find("started:") == std::string::npos);
  }
}

TEST_CASE("a host without keys warns that it is unauthenticated when it listens beyond loopback") {
  temp_dir dir;
  const auto ready = dir / "ready";
  child_process open_host({MESHD_PATH, "--listen", "tcp://0.0.0.0:*", "--plugins",
                           MESH_EXAMPLE_PLUGIN_DIR, "--ready-file", ready.string()},
                          dir / "open.log");
  REQUIRE(wait_until([&] { return std::filesystem::exists(ready); }, 15s));
  open_host.signal(SIGTERM);
  CHECK(open_host.wait(15s) == 0);
  CHECK(read_file(dir / "open.log").find("unauthenticated: requests listens on tcp://0.0.0.0:*") !=
        std::string::npos);

  meshd_process loopback(MESH_EXAMPLE_PLUGIN_DIR);  // 127.0.0.1: no warning
  CHECK(loopback.log().find("unauthenticated") == std::string::npos);
}

TEST_CASE(
    "a keyed cluster serves its clients and lets no unknown key, no key or stranger host in") {
  temp_dir dir;
  const auto cluster = keygen(dir / "cluster.key");
  const auto ann = keygen(dir / "ann.key", "ann");
  const auto eve = keygen(dir / "eve.key", "eve");
  std::filesystem::copy_file(dir / "ann.key.pub", dir / "authorized");
  const curve_client_keys ann_keys{cluster.public_key, ann.public_key, ann.secret_key};
  const std::vector<std::string> keyed = {"--curve-secret", (dir / "cluster.key").string(),
                                          "--authorized-keys", (dir / "authorized").string()};

  cluster_node a("sec-a", {}, "counter", keyed, &ann_keys);
  cluster_node b("sec-b", {a.gossip()}, "counter", keyed, &ann_keys);
  cluster_node c("sec-c", {a.gossip()}, "counter", keyed, &ann_keys);
  REQUIRE(wait_converged({&a, &b, &c}, {"sec-a", "sec-b", "sec-c"}));
  CHECK(a.log().find("auth: curve key=" + cluster.public_key) != std::string::npos);

  // Served and forwarded: calls through sec-a reach the owners on the other hosts.
  std::vector<std::string> ids;
  for (int i = 0; i < 24; ++i) ids.push_back("k" + std::to_string(i));
  const auto replies = call_all(a.c(), "counter", "Counter", ids, {{"op", "incr"}}, 5000, 10s);
  REQUIRE(replies.size() == ids.size());
  std::set<std::string> served_by;
  for (const auto& [id, r] : replies) {
    CHECK(r.r.ok);
    CHECK(r.r.body["count"] == 1);
    served_by.insert(r.r.host);
  }
  CHECK(served_by.size() == 3);
  CHECK(stats_of(a.c())["forward"]["sent"].get<uint64_t>() > 0);

  // Strangers: an unknown key and no key at all. Their calls never run: no reply, and the
  // counter they tried to bump is untouched when an authorized client looks.
  const curve_client_keys eve_keys{cluster.public_key, eve.public_key, eve.secret_key};
  auto activations = [&] {
    uint64_t n = 0;
    for (auto* node : {&a, &b, &c})
      n += stats_of(node->c())["actors"]["activations"].get<uint64_t>();
    return n;
  };
  const uint64_t activations_before = activations();
  client unknown(a.endpoint(), &eve_keys);
  client plain(a.endpoint());
  // A send may find no connection to queue on (every handshake failed): bounded, and then
  // nothing was sent at all, which is the point.
  auto try_send = [](client& to, const std::function<void()>& send) {
    to.set_send_timeout(1000ms);
    try {
      send();
    } catch (const std::runtime_error&) {
    }
  };
  for (auto* stranger : {&unknown, &plain}) {
    auto req = client::make(wire::op::call, "counter", "Counter", "target", 1000);
    req.rid = stranger->next_rid();
    try_send(*stranger, [&] { stranger->send(req, json{{"op", "incr"}}); });
    CHECK_FALSE(stranger->receive(1500ms).has_value());
  }
  // Eve on the gossip socket, too: only the host key gets in there.
  client gossip_eve(a.gossip(), &eve_keys);
  try_send(gossip_eve, [&] { gossip_eve.send_raw("hello"); });
  CHECK(activations() == activations_before);  // no actor was even created
  const auto target = a.c().call("counter", "Counter", "target", {{"op", "get"}});
  CHECK(target.ok);
  CHECK(target.body["count"] == 0);

  // An authorized client key is refused on the gossip socket (hosts only there).
  client ann_on_gossip(a.gossip(), &ann_keys);
  try_send(ann_on_gossip, [&] { ann_on_gossip.send_raw("hello"); });

  // A stranger host: its own cluster key, seeded with sec-a. It never joins.
  const auto stranger_key = keygen(dir / "stranger.key");
  const curve_client_keys stranger_keys{stranger_key.public_key, stranger_key.public_key,
                                        stranger_key.secret_key};
  cluster_node s("sec-stranger", {a.gossip()}, "counter",
                 {"--curve-secret", (dir / "stranger.key").string()}, &stranger_keys);
  const auto watch_until = std::chrono::steady_clock::now() + 2s;  // ~20 heartbeats
  bool listed = false;
  while (std::chrono::steady_clock::now() < watch_until) {
    for (auto* n : {&a, &b, &c}) {
      const auto seen = n->members();  // a range-for over seen["members"] of a temporary dangles
      for (const auto& m : seen["members"]) listed |= m["name"] == "sec-stranger";
    }
    const auto seen_by_stranger = s.members();
    for (const auto& m : seen_by_stranger["members"]) listed |= m["name"] != "sec-stranger";
    std::this_thread::sleep_for(100ms);
  }
  CHECK_FALSE(listed);
  CHECK(converged({&a, &b, &c}, {"sec-a", "sec-b", "sec-c"}));

  // Counted and logged.
  json st;
  CHECK(wait_until(
      [&] {
        st = stats_of(a.c());
        return denied(st, "requests", "unknown_key") >= 1 &&
               denied(st, "requests", "no_key") + denied(st, "requests", "bad_handshake") >= 1 &&
               denied(st, "gossip", "unknown_key") >= 2 &&
               denied(st, "gossip", "bad_handshake") >= 1;
      },
      5s));
  CAPTURE(st.dump());
  CHECK(st["auth"]["curve"] == true);
  const std::string log = a.log();
  CHECK(log.find("auth denied: requests reason=unknown_key peer=127.0.0.1 key=" + eve.public_key) !=
        std::string::npos);
  CHECK(log.find("auth denied: gossip reason=unknown_key") != std::string::npos);
  CHECK(log.find("auth denied: gossip reason=bad_handshake") != std::string::npos);
  // Rate-limited: strangers retry every 100 ms, the log gets a line per 10 s at most.
  size_t lines = 0;
  for (auto at = log.find("auth denied: gossip reason=unknown_key"); at != std::string::npos;
       at = log.find("auth denied: gossip reason=unknown_key", at + 1))
    ++lines;
  CHECK(lines >= 1);
  CHECK(lines < denied(st, "gossip", "unknown_key"));
}

}  // namespace mesh::test
