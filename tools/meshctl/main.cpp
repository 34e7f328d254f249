// meshctl: calls actors and operates a Mesh cluster from the shell. Every run prints its result
// for a person, or with --json exactly one JSON document, and exits with a status that says who
// failed. Built on the mesh::client library (tools/client).
#include <CLI/CLI.hpp>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iomanip>
#include <iostream>
#include <mesh/client.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

#include <mesh/security/curve_keys.hpp>
#include <mesh/wire/envelope.hpp>
#include <mesh/wire/shard.hpp>

namespace {

/// Output documents keep their keys in the order written ("ok" first).
using mesh::client::json;
using std::chrono::milliseconds;

/// meshctl's exit statuses; docs/PROTOCOL.md and --help list them too.
enum exit_status : int {
  exit_ok = 0,
  exit_host_error = 1,  ///< the host answered with an error reply
  exit_usage = 2,       ///< bad command line or argument; nothing was sent
  exit_no_reply = 3,    ///< no usable reply: client-side timeout, transport or protocol failure
};

constexpr const char* exit_codes_text =
    "Output: readable text; with --json one JSON document on stdout, {\"ok\":true,...} or\n"
    "  {\"ok\":false,\"error\":{\"code\":...,\"message\":...}}.\n"
    "Exit status:\n"
    "  0  success\n"
    "  1  the host answered with an error (error.code is a wire error code, e.g. unknown_module,\n"
    "     actor_error, or timeout when the host's own deadline passed)\n"
    "  2  usage error: bad option or argument (error.code bad_argument); nothing was sent\n"
    "  3  no usable reply: client-side timeout (error.code timeout), transport failure\n"
    "     (transport) or an undecodable reply (protocol_error)\n"
    "Environment: MESH_CONNECT sets the default for --connect; MESH_SERVER_KEY and\n"
    "  MESH_CLIENT_KEY the defaults for --server-key and --client-key.";

/// Everything the command line can set.
struct options {
  std::vector<std::string> endpoints{"tcp://127.0.0.1:7100"};
  bool json_output = false;
  bool pretty = false;
  bool direct = false;
  std::string capability;
  std::string module;
  std::string id;
  std::optional<std::string> payload;
  std::optional<std::string> init_arg;
  uint32_t timeout_ms = mesh::wire::default_timeout_ms;
  uint32_t shards = mesh::wire::default_shards;
  bool remote = false;
  bool all = false;
  std::string host;
  uint32_t limit = mesh::wire::default_actors_limit;
  std::string after;
  std::vector<std::string> capabilities;
  std::string server_key;  ///< file with the cluster's public key (CURVE)
  std::string client_key;  ///< file with this client's key pair (CURVE)
  std::string key_out;     ///< keygen: where to write the key pair
  std::string key_name;    ///< keygen: name written after the public key
  bool force = false;      ///< keygen: replace existing files
};

// --- Output ----------------------------------------------------------------------------------

std::string scalar_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_binary()) {
    std::ostringstream out;
    out << "0x" << std::hex << std::setfill('0');
    for (uint8_t b : v.get_binary()) out << std::setw(2) << static_cast<int>(b);
    return out.str();
  }
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool is_scalar_list(const json& v) {
  if (!v.is_array()) return false;
  for (const auto& e : v)
    if (e.is_object() || e.is_array()) return false;
  return true;
}

std::string list_text(const json& v) {
  std::string out;
  for (const auto& e : v) out += (out.empty() ? "" : ", ") + scalar_text(e);
  return out.empty() ? "-" : out;
}

/// A JSON document as indented "key: value" lines (for people).
void print_tree(std::ostream& out, const json& v, int indent) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  if (v.is_object()) {
    for (const auto& [key, value] : v.items()) {
      if (value.is_object() || (value.is_array() && !is_scalar_list(value))) {
        out << pad << key << ":\n";
        print_tree(out, value, indent + 2);
      } else {
        out << pad << key << ": " << (value.is_array() ? list_text(value) : scalar_text(value))
            << '\n';
      }
    }
  } else if (v.is_array()) {
    for (const auto& e : v) {
      if (e.is_object()) {
        out << pad << "-\n";
        print_tree(out, e, indent + 2);
      } else {
        out << pad << "- " << scalar_text(e) << '\n';
      }
    }
  } else {
    out << pad << scalar_text(v) << '\n';
  }
}

/// A table with a header row; columns as wide as their widest cell.
void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size() && c < width.size(); ++c)
      width[c] = std::max(width[c], row[c].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t c = 0; c < cells.size(); ++c) {
      text += cells[c];
      if (c + 1 < cells.size()) text += std::string(width[c] - cells[c].size() + 2, ' ');
    }
    out << text << '\n';
  };
  line(header);
  for (const auto& row : rows) line(row);
}

/// Prints a result: the JSON document with --json, else `text` (or the document as a tree).
class printer {
 public:
  explicit printer(const options& opt) : opt_(opt) {}

  int ok(json doc, const std::function<void(std::ostream&, const json&)>& text = {}) const {
    if (opt_.json_output) {
      json out = {{"ok", true}};
      for (auto& [k, v] : doc.items()) out[k] = std::move(v);
      std::cout << out.dump(opt_.pretty ? 2 : -1, ' ', false, json::error_handler_t::replace)
                << '\n';
    } else if (text) {
      text(std::cout, doc);
    } else {
      print_tree(std::cout, doc, 0);
    }
    return exit_ok;
  }

  int error(std::string_view code, std::string_view message, int status) const {
    if (opt_.json_output) {
      json doc = {{"ok", false}, {"error", {{"code", code}, {"message", message}}}};
      std::cout << doc.dump(opt_.pretty ? 2 : -1, ' ', false, json::error_handler_t::replace)
                << '\n';
    } else {
      std::cerr << "meshctl: " << code << ": " << message << '\n';
    }
    return status;
  }

  int error(const mesh::client::error& e) const {
    return error(e.code, e.message,
                 e.origin == mesh::client::error_origin::host ? exit_host_error : exit_no_reply);
  }

 private:
  const options& opt_;
};

/// Parses the JSON given to `flag` and encodes it as MessagePack; the error names the flag.
tl::expected<mesh::client::bytes, std::string> json_argument(const char* flag,
                                                             const std::string& text) {
  try {
    return mesh::client::json_to_msgpack(json::parse(text));
  } catch (const json::exception& e) {
    return tl::unexpected(std::string(flag) + " is not valid JSON: " + e.what());
  }
}

json actor_json(const mesh::client::actor_info& a) {
  return {{"host", a.host}, {"module", a.module}, {"id", a.id}, {"activation", a.activation}};
}

/// The reply envelope as JSON without the protocol fields.
tl::expected<json, mesh::client::error> envelope_json(const mesh::client::bytes& envelope) {
  auto doc = mesh::client::json_from_msgpack(envelope);
  if (!doc) return doc;
  doc->erase("v");
  doc->erase("rid");
  doc->erase("ok");
  return doc;
}

// --- Verbs -----------------------------------------------------------------------------------

/// Runs call or cast; `is_call` picks which.
int run_actor_request(mesh::client::client& c, const options& opt, const printer& out,
                      bool is_call) {
  if (opt.capability.empty() || opt.module.empty() || opt.id.empty())
    return out.error("bad_argument", "--capability, --module and --id must not be empty",
                     exit_usage);
  auto payload = json_argument("--payload", opt.payload.value_or("null"));
  if (!payload) return out.error("bad_argument", payload.error(), exit_usage);
  std::optional<mesh::client::bytes> init;
  if (opt.init_arg) {
    auto parsed = json_argument("--init-arg", *opt.init_arg);
    if (!parsed) return out.error("bad_argument", parsed.error(), exit_usage);
    init = std::move(*parsed);
  }
  if (!is_call) {
    auto r = c.cast(opt.capability, opt.module, opt.id, *payload, init);
    if (!r) return out.error(r.error());
    return out.ok(json::object(), [](std::ostream& os, const json&) { os << "accepted\n"; });
  }
  auto r = c.call(opt.capability, opt.module, opt.id, *payload, init,
                  milliseconds{opt.timeout_ms});
  if (!r) return out.error(r.error());
  auto reply = mesh::client::json_from_msgpack(r->reply);
  if (!reply)
    return out.error("protocol_error", "the actor's reply is unreadable: " + reply.error().message,
                     exit_no_reply);
  return out.ok({{"actor", actor_json(r->actor)}, {"reply", std::move(*reply)}},
                [](std::ostream& os, const json& doc) {
                  const auto& a = doc["actor"];
                  os << a["module"].get<std::string>() << ' ' << a["id"].get<std::string>()
                     << " on " << a["host"].get<std::string>() << " (activation "
                     << a["activation"] << "): "
                     << doc["reply"].dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
                });
}

int run_shard(mesh::client::client* c, const options& opt, const printer& out) {
  if (!opt.remote)
    return out.ok({{"id", opt.id},
                   {"shard", mesh::wire::shard_for(opt.id, opt.shards)},
                   {"shards", opt.shards}});
  auto r = c->remote_shard(opt.id);
  if (!r) return out.error(r.error());
  return out.ok({{"id", opt.id}, {"shard", r->shard}, {"shards", r->shards}});
}

int run_register(mesh::client::client& c, const options& opt, const printer& out) {
  for (const auto& name : opt.capabilities)
    if (name.empty())
      return out.error("bad_argument", "capability names must not be empty", exit_usage);
  auto r = c.register_capabilities(opt.capabilities);
  if (!r) return out.error(r.error());
  return out.ok({{"capabilities", *r}});
}

int run_capabilities(mesh::client::client& c, const printer& out) {
  auto r = c.capabilities();
  if (!r) return out.error(r.error());
  json modules = json::array();
  for (const auto& m : r->modules)
    modules.push_back({{"module", m.module}, {"capability", m.capability}, {"plugin", m.plugin}});
  return out.ok({{"host", r->host},
                 {"capabilities", r->capabilities},
                 {"cluster_capabilities", r->cluster_capabilities},
                 {"modules", std::move(modules)}},
                [](std::ostream& os, const json& doc) {
                  os << "host: " << doc["host"].get<std::string>() << '\n'
                     << "serves: " << list_text(doc["capabilities"]) << '\n'
                     << "cluster: " << list_text(doc["cluster_capabilities"]) << "\n\n";
                  std::vector<std::vector<std::string>> rows;
                  for (const auto& m : doc["modules"])
                    rows.push_back({m["module"], m["capability"], m["plugin"]});
                  print_table(os, {"MODULE", "CAPABILITY", "PLUGIN"}, rows);
                });
}

int run_ping(mesh::client::client& c, const printer& out) {
  const auto start = std::chrono::steady_clock::now();
  auto r = c.ping();
  const std::chrono::duration<double, std::milli> rtt = std::chrono::steady_clock::now() - start;
  if (!r) return out.error(r.error());
  return out.ok({{"host", r->host}, {"shards", r->shards}, {"rtt_ms", rtt.count()}},
                [](std::ostream& os, const json& doc) {
                  os << doc["host"].get<std::string>() << " answered in " << std::fixed
                     << std::setprecision(3) << doc["rtt_ms"].get<double>() << " ms\n";
                });
}

/// Sends a query op and prints its reply envelope (without the protocol fields).
int run_query(mesh::client::client& c, const options& opt, const printer& out,
              mesh::wire::op kind,
              const std::function<void(std::ostream&, const json&)>& text = {}) {
  mesh::wire::request req;
  req.kind = kind;
  req.capability = opt.capability;
  req.id = mesh::client::view_of(opt.id);
  auto r = c.request(req, {}, milliseconds{opt.timeout_ms});
  if (!r) return out.error(r.error());
  auto doc = envelope_json(*r);
  if (!doc) return out.error(doc.error());
  return out.ok(std::move(*doc), text);
}

void members_text(std::ostream& os, const json& doc) {
  os << "epoch " << std::hex << doc.value("epoch", uint64_t{0}) << std::dec;
  if (doc.contains("strategy")) os << ", placement " << scalar_text(doc["strategy"]);
  if (doc.contains("shards")) os << ", " << doc["shards"] << " shards";
  os << "\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : doc["members"]) {
    std::string name = m.value("name", "");
    if (m.value("self", false)) name += " *";
    rows.push_back({name, m.value("status", ""), m.value("endpoint", ""), list_text(m["caps"]),
                    std::to_string(m.value("incarnation", uint64_t{0})),
                    m.value("self", false)
                        ? "-"
                        : std::to_string(m.value("last_heard_ms", uint64_t{0})) + " ms ago"});
  }
  print_table(os, {"NAME", "STATUS", "ENDPOINT", "CAPABILITIES", "INCARNATION", "LAST HEARD"},
              rows);
  os << "(* the host asked)\n";
}

/// The endpoint of host `name_or_endpoint`: endpoints pass through, names are looked up in the
/// membership of the host asked.
tl::expected<std::string, mesh::client::error> resolve_host(mesh::client::client& c,
                                                            const std::string& name_or_endpoint) {
  if (name_or_endpoint.find("://") != std::string::npos) return name_or_endpoint;
  auto m = c.members();
  if (!m) return tl::unexpected(m.error());
  for (const auto& member : m->members)
    if (member.name == name_or_endpoint) return member.endpoint;
  return tl::unexpected(mesh::client::error{
      "bad_argument", "no host named \"" + name_or_endpoint + "\" in the cluster",
      mesh::client::error_origin::client});
}

int run_actors(mesh::client::client& c, const options& opt, const printer& out) {
  std::string endpoint;
  if (!opt.host.empty()) {
    auto e = resolve_host(c, opt.host);
    if (!e) return e.error().code == "bad_argument" ? out.error(e.error().code, e.error().message,
                                                                exit_usage)
                                                    : out.error(e.error());
    endpoint = *e;
  }
  json actors = json::array();
  json next = nullptr;
  uint64_t total = 0;
  std::string host;
  // Cursors are opaque bytes; they are printed (and taken back) as 0x-prefixed hex.
  std::string cursor = opt.after;
  if (cursor.size() > 2 && cursor.rfind("0x", 0) == 0) {
    std::string raw;
    for (size_t i = 2; i + 1 < cursor.size(); i += 2) {
      const int hi = std::isxdigit(static_cast<unsigned char>(cursor[i]))
                         ? std::stoi(cursor.substr(i, 1), nullptr, 16) : -1;
      const int lo = std::isxdigit(static_cast<unsigned char>(cursor[i + 1]))
                         ? std::stoi(cursor.substr(i + 1, 1), nullptr, 16) : -1;
      if (hi < 0 || lo < 0 || cursor.size() % 2 != 0)
        return out.error("bad_argument", "--after is not a cursor meshctl printed", exit_usage);
      raw.push_back(static_cast<char>(hi * 16 + lo));
    }
    cursor = std::move(raw);
  }
  // One page, or with --all every page in turn.
  for (;;) {
    mesh::wire::request req;
    req.kind = mesh::wire::op::actors;
    req.module = opt.module;
    req.limit = opt.limit;
    req.after = mesh::client::view_of(cursor);
    auto r = c.request(req, endpoint, milliseconds{opt.timeout_ms});
    if (!r) return out.error(r.error());
    auto doc = envelope_json(*r);
    if (!doc) return out.error(doc.error());
    host = doc->value("host", host);
    total = doc->value("total", total);
    for (auto& a : (*doc)["actors"]) actors.push_back(std::move(a));
    next = (*doc)["next"];
    if (!opt.all || next.is_null()) break;
    cursor = next.is_binary() ? std::string(next.get_binary().begin(), next.get_binary().end())
                              : scalar_text(next);
    if (cursor.empty()) break;
  }
  json next_out = next.is_null() ? json(nullptr) : json(scalar_text(next));
  return out.ok({{"host", host}, {"total", total}, {"actors", std::move(actors)},
                 {"next", std::move(next_out)}},
                [](std::ostream& os, const json& doc) {
                  std::vector<std::vector<std::string>> rows;
                  for (const auto& a : doc["actors"])
                    rows.push_back({scalar_text(a["cap"]), scalar_text(a["mod"]),
                                    scalar_text(a["id"]), scalar_text(a["act"]),
                                    scalar_text(a["idle_ms"]) + " ms"});
                  print_table(os, {"CAPABILITY", "MODULE", "ID", "ACTIVATION", "IDLE"}, rows);
                  os << doc["actors"].size() << " of " << doc["total"] << " live actors";
                  if (!doc["host"].get<std::string>().empty())
                    os << " on " << doc["host"].get<std::string>();
                  if (!doc["next"].is_null())
                    os << "; next page: --after '" << doc["next"].get<std::string>() << "'";
                  os << '\n';
                });
}

int run_stats(mesh::client::client& c, const options& opt, const printer& out) {
  mesh::wire::request req;
  req.kind = mesh::wire::op::stats;
  std::vector<std::string> endpoints{""};
  if (opt.all) {
    auto m = c.members();
    if (!m) return out.error(m.error());
    endpoints.clear();
    for (const auto& member : m->members)
      if (member.routable()) endpoints.push_back(member.endpoint);
  }
  json hosts = json::array();
  for (const auto& endpoint : endpoints) {
    auto r = c.request(req, endpoint, milliseconds{opt.timeout_ms});
    if (!r) {
      if (!opt.all) return out.error(r.error());
      hosts.push_back({{"endpoint", endpoint}, {"error", {{"code", r.error().code},
                                                         {"message", r.error().message}}}});
      continue;
    }
    auto doc = envelope_json(*r);
    if (!doc) return out.error(doc.error());
    if (!endpoint.empty()) (*doc)["endpoint"] = endpoint;
    hosts.push_back(std::move(*doc));
  }
  if (!opt.all) return out.ok(std::move(hosts[0]));
  return out.ok({{"hosts", std::move(hosts)}}, [](std::ostream& os, const json& doc) {
    for (const auto& h : doc["hosts"]) {
      os << "== " << h.value("host", h.value("endpoint", "?")) << " ==\n";
      print_tree(os, h, 0);
      os << '\n';
    }
  });
}

int run_keygen(const options& opt, const printer& out) {
  const std::filesystem::path path = opt.key_out;
  const std::filesystem::path pub = opt.key_out + ".pub";
  if (!opt.force)
    for (const auto& p : {path, pub})
      if (std::filesystem::exists(p))
        return out.error("bad_argument", p.string() + " exists (use --force to replace it)",
                         exit_usage);
  try {
    const auto pair = mesh::security::generate_key_pair();
    mesh::security::write_key_pair(path, pair, opt.key_name);
    return out.ok({{"public_key", pair.public_key}, {"secret_file", path.string()},
                   {"public_file", pub.string()}},
                  [](std::ostream& os, const json& doc) {
                    os << "wrote " << doc["secret_file"].get<std::string>() << " (secret, mode 0600) and "
                       << doc["public_file"].get<std::string>() << "\npublic key: "
                       << doc["public_key"].get<std::string>() << '\n';
                  });
  } catch (const std::exception& e) {
    return out.error("keygen_failed", e.what(), exit_no_reply);
  }
}

/// Fills the client's CURVE keys from --server-key and --client-key; an error message, or "".
std::string load_curve_options(const options& opt, mesh::client::options& copts) {
  if (opt.server_key.empty() && opt.client_key.empty()) return "";
  if (opt.server_key.empty() || opt.client_key.empty())
    return "--server-key and --client-key go together";
  try {
    copts.curve_server_key = mesh::security::read_public_key(opt.server_key);
    const auto pair = mesh::security::read_key_pair(opt.client_key);
    copts.curve_public_key = pair.public_key;
    copts.curve_secret_key = pair.secret_key;
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// --- Command line ----------------------------------------------------------------------------

void add_actor_options(CLI::App& cmd, options& opt, bool with_timeout) {
  cmd.add_option("--capability", opt.capability, "Capability the module belongs to")->required();
  cmd.add_option("--module", opt.module, "Actor module (type) name")->required();
  cmd.add_option("--id", opt.id, "Actor id")->required();
  cmd.add_option("--payload", opt.payload, "Message as JSON (default: null)");
  cmd.add_option("--init-arg", opt.init_arg,
                 "Argument for the actor's constructor as JSON; used only if this request "
                 "activates the actor");
  if (with_timeout)
    cmd.add_option("--timeout-ms", opt.timeout_ms,
                   "Call deadline, enforced by the host; meshctl itself waits 1000 ms longer")
        ->check(CLI::Range(uint32_t{1}, mesh::wire::max_timeout_ms))
        ->capture_default_str();
  cmd.add_flag("--direct", opt.direct,
               "Send to the actor's owner (learnt from the cluster) instead of through the "
               "--connect host");
}

void add_wait_option(CLI::App& cmd, options& opt) {
  cmd.add_option("--timeout-ms", opt.timeout_ms, "How long to wait for the host's reply")
      ->check(CLI::Range(uint32_t{1}, mesh::wire::max_timeout_ms))
      ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  CLI::App app{"meshctl: call actors and operate a Mesh cluster"};
  app.footer(exit_codes_text);
  app.require_subcommand(1);
  app.fallthrough();  // the global options work before or after the verb
  app.add_option("--connect", opt.endpoints,
                 "Host endpoint(s) (ZeroMQ address; several comma-separated)")
      ->envname("MESH_CONNECT")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--server-key", opt.server_key,
                 "Keyed cluster (docs/SECURITY.md): file with the cluster's public key "
                 "(the .pub that meshctl keygen wrote next to the hosts' --curve-secret)")
      ->envname("MESH_SERVER_KEY");
  app.add_option("--client-key", opt.client_key,
                 "Keyed cluster: this client's key pair file (meshctl keygen; its public key must "
                 "be in the hosts' --authorized-keys)")
      ->envname("MESH_CLIENT_KEY");
  app.add_flag("--json", opt.json_output, "Print one JSON document instead of text");
  app.add_flag("--pretty", opt.pretty, "With --json: indent the document");

  auto* call = app.add_subcommand("call", "Call an actor and print its reply");
  add_actor_options(*call, opt, true);
  call->footer(
      "Example:\n"
      "  meshctl call --capability game --module GameActor --id player_1 \\\n"
      "      --payload '{\"action\":\"move\",\"x\":1,\"y\":2}'\n"
      "--json prints {\"ok\":true,\"actor\":{\"host\":...,\"module\":...,\"id\":...,"
      "\"activation\":...},\"reply\":...}");

  auto* cast = app.add_subcommand("cast", "Send a one-way message to an actor");
  add_actor_options(*cast, opt, false);
  add_wait_option(*cast, opt);
  cast->footer(
      "The host acknowledges as soon as it accepts the message, before the handler runs.\n"
      "Example:\n"
      "  meshctl cast --capability chat --module ChatActor --id room-42 \\\n"
      "      --payload '{\"action\":\"say\",\"user\":\"ann\",\"text\":\"hello\"}'\n"
      "--json prints {\"ok\":true}");

  auto* shard = app.add_subcommand("shard", "Print the shard an actor id falls in");
  shard->add_option("id", opt.id, "Actor id")->required();
  shard->add_option("--shards", opt.shards, "Shard count to compute with")
      ->check(CLI::Range(uint32_t{1}, UINT32_MAX))
      ->capture_default_str();
  shard->add_flag("--remote", opt.remote,
                  "Ask the host (with its shard count) instead of computing locally");
  add_wait_option(*shard, opt);
  shard->footer(
      "Computed locally (no host needed) unless --remote is given.\n"
      "Example:\n"
      "  meshctl shard player_1 --shards 4096\n"
      "--json prints {\"ok\":true,\"id\":\"player_1\",\"shard\":...,\"shards\":4096}");

  auto* keygen = app.add_subcommand("keygen", "Write a new CURVE key pair (no host needed)");
  keygen->add_option("--out", opt.key_out, "Key pair file; the public key goes to FILE.pub")
      ->required();
  keygen->add_option("--name", opt.key_name, "Name written after the public key in FILE.pub");
  keygen->add_flag("--force", opt.force, "Replace existing files");
  keygen->footer(
      "FILE (mode 0600) holds the key pair; FILE.pub one line 'KEY NAME', ready to append to a\n"
      "host's --authorized-keys file. The cluster key: meshd --curve-secret FILE on every host;\n"
      "clients get FILE.pub as --server-key. See docs/SECURITY.md.\n"
      "Example:\n"
      "  meshctl keygen --out /etc/mesh/cluster.key\n"
      "  meshctl keygen --out ~/.mesh/client.key --name ann\n"
      "--json prints {\"ok\":true,\"public_key\":...,\"secret_file\":...,\"public_file\":...}");

  auto* reg = app.add_subcommand("register-capabilities", "Make the host serve more capabilities");
  reg->add_option("capabilities", opt.capabilities, "Capability names, comma-separated")
      ->required()
      ->delimiter(',');
  add_wait_option(*reg, opt);
  reg->footer(
      "Example:\n"
      "  meshctl --connect tcp://127.0.0.1:7100 register-capabilities game,chat\n"
      "--json prints {\"ok\":true,\"capabilities\":[every capability served afterwards]}");

  auto* caps = app.add_subcommand("capabilities", "List served capabilities and loaded modules");
  add_wait_option(*caps, opt);
  caps->footer(
      "Example:\n"
      "  meshctl capabilities\n"
      "--json prints {\"ok\":true,\"host\":...,\"capabilities\":[...],\"cluster_capabilities\":"
      "[...],\"modules\":[{\"module\":...,\"capability\":...,\"plugin\":...}]}");

  auto* ping = app.add_subcommand("ping", "Check that the host answers");
  add_wait_option(*ping, opt);
  ping->footer(
      "Example:\n"
      "  meshctl --connect tcp://127.0.0.1:7100 ping\n"
      "--json prints {\"ok\":true,\"host\":...,\"shards\":...,\"rtt_ms\":...}");

  auto* members = app.add_subcommand("members", "List the cluster's hosts as this host sees them");
  add_wait_option(*members, opt);
  members->footer(
      "Example:\n"
      "  meshctl --connect tcp://127.0.0.1:7100 members\n"
      "--json prints {\"ok\":true,\"epoch\":...,\"strategy\":...,\"shards\":...,\"members\":"
      "[{\"name\",\"endpoint\",\"gossip\",\"caps\",\"status\",\"incarnation\",\"version\","
      "\"self\",\"last_heard_ms\"}...]}");

  auto* nodes = app.add_subcommand("nodes-for", "List the hosts that have a capability");
  nodes->add_option("capability", opt.capability, "Capability name")->required();
  add_wait_option(*nodes, opt);
  nodes->footer(
      "Example:\n"
      "  meshctl nodes-for game\n"
      "--json prints {\"ok\":true,\"cap\":\"game\",\"nodes\":[\"node1\",\"node3\"]}");

  auto* owner = app.add_subcommand("owner", "Show the shard and the owner host of an actor id");
  owner->add_option("id", opt.id, "Actor id")->required();
  owner->add_option("--capability", opt.capability, "Capability")->required();
  add_wait_option(*owner, opt);
  owner->footer(
      "Example:\n"
      "  meshctl owner player_1 --capability game\n"
      "--json prints {\"ok\":true,\"shard\":2486,\"shards\":4096,\"owner\":\"node3\","
      "\"endpoint\":...}");

  auto* actors = app.add_subcommand("actors", "List the live activations on one host, paged");
  actors->add_option("--host", opt.host,
                     "Host name (looked up in the membership) or endpoint; default: --connect");
  actors->add_option("--module", opt.module, "Only actors of this module");
  actors->add_option("--limit", opt.limit, "Page size")
      ->check(CLI::Range(uint32_t{1}, mesh::wire::max_actors_limit))
      ->capture_default_str();
  actors->add_option("--after", opt.after, "Cursor printed with the previous page");
  actors->add_flag("--all", opt.all, "Fetch every page");
  add_wait_option(*actors, opt);
  actors->footer(
      "Example:\n"
      "  meshctl --connect tcp://127.0.0.1:7100 actors --host node3 --module GameActor\n"
      "--json prints {\"ok\":true,\"host\":...,\"total\":N,\"actors\":[{\"cap\",\"mod\",\"id\","
      "\"act\",\"idle_ms\"}...],\"next\":cursor or null}");

  auto* stats = app.add_subcommand("stats", "Show a host's counters, or every host's");
  stats->add_flag("--all", opt.all, "Every routable host of the cluster");
  add_wait_option(*stats, opt);
  stats->footer(
      "Counters: requests by operation and outcome, forwarding, activations, deactivations by\n"
      "reason, live actors per module, queue depth, call latency, membership changes, plugins,\n"
      "decode errors (docs/OPERATIONS.md lists them).\n"
      "Example:\n"
      "  meshctl --connect tcp://127.0.0.1:7100 stats --all\n"
      "--json prints {\"ok\":true,\"host\":...,\"uptime_ms\":...,\"stats\":{...}} (with --all:\n"
      "{\"ok\":true,\"hosts\":[...one such document per host...]})");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);  // help goes to stdout, errors to stderr
    if (status == 0) return exit_ok;
    return printer(opt).error("bad_argument", e.what(), exit_usage);
  }
  const printer out(opt);

  try {
    if (*shard && !opt.remote) return run_shard(nullptr, opt, out);
    if (*keygen) return run_keygen(opt, out);
    std::optional<mesh::client::client> client;
    try {
      mesh::client::options copts;
      if (const std::string bad = load_curve_options(opt, copts); !bad.empty())
        return out.error("bad_argument", bad, exit_usage);
      copts.direct = opt.direct;
      copts.timeout = milliseconds{opt.timeout_ms};
      client.emplace(opt.endpoints, copts);
    } catch (const std::exception& e) {
      return out.error("bad_argument", std::string("cannot connect: ") + e.what(), exit_usage);
    }
    auto& c = *client;
    if (*shard) return run_shard(&c, opt, out);
    if (*call) return run_actor_request(c, opt, out, true);
    if (*cast) return run_actor_request(c, opt, out, false);
    if (*reg) return run_register(c, opt, out);
    if (*caps) return run_capabilities(c, out);
    if (*ping) return run_ping(c, out);
    if (*members) return run_query(c, opt, out, mesh::wire::op::members, members_text);
    if (*nodes)
      return run_query(c, opt, out, mesh::wire::op::nodes_for,
                       [](std::ostream& os, const json& doc) {
                         for (const auto& n : doc["nodes"]) os << n.get<std::string>() << '\n';
                       });
    if (*owner)
      return run_query(c, opt, out, mesh::wire::op::owner, [](std::ostream& os, const json& doc) {
        os << "shard " << doc["shard"] << " of " << doc["shards"] << ": "
           << scalar_text(doc["owner"]) << " (" << scalar_text(doc["endpoint"]) << ")\n";
      });
    if (*actors) return run_actors(c, opt, out);
    if (*stats) return run_stats(c, opt, out);
  } catch (const std::exception& e) {
    return out.error("internal", e.what(), exit_no_reply);
  }
  return out.error("bad_argument", "no command given", exit_usage);
}
