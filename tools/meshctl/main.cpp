// meshctl: calls actors and queries a Mesh host from the shell. Every run prints exactly one JSON
// document on stdout (help text aside) and exits with a status that says who failed.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <tl/expected.hpp>
#include <utility>
#include <vector>

#include "client/client.hpp"
#include "wire/wire.hpp"

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
    "Output: one JSON document on stdout, {\"ok\":true,...} or\n"
    "  {\"ok\":false,\"error\":{\"code\":...,\"message\":...}}.\n"
    "Exit status:\n"
    "  0  success\n"
    "  1  the host answered with an error (error.code is a wire error code, e.g. unknown_module,\n"
    "     actor_error, or timeout when the host's own deadline passed)\n"
    "  2  usage error: bad option or argument (error.code bad_argument); nothing was sent\n"
    "  3  no usable reply: client-side timeout (error.code timeout), transport failure\n"
    "     (transport) or an undecodable reply (protocol_error)\n"
    "Environment: MESH_CONNECT sets the default for --connect.";

/// Everything the command line can set.
struct options {
  std::string endpoint = "tcp://127.0.0.1:7100";
  bool pretty = false;
  std::string capability;
  std::string module;
  std::string id;
  std::optional<std::string> payload;
  std::optional<std::string> init_arg;
  uint32_t timeout_ms = mesh::wire::default_timeout_ms;
  uint32_t shards = mesh::wire::default_shards;
  bool remote = false;
  std::vector<std::string> capabilities;
};

/// Prints the run's single JSON document.
void print(const json& doc, bool pretty) {
  std::cout << doc.dump(pretty ? 2 : -1, ' ', false, json::error_handler_t::replace) << '\n';
}

int print_error(std::string_view code, std::string_view message, bool pretty, int status) {
  print({{"ok", false}, {"error", {{"code", code}, {"message", message}}}}, pretty);
  return status;
}

int print_error(const mesh::client::error& e, bool pretty) {
  return print_error(
      e.code, e.message, pretty,
      e.origin == mesh::client::error_origin::host ? exit_host_error : exit_no_reply);
}

/// Parses the JSON given to `flag` and encodes it as MessagePack; the error names the flag.
tl::expected<mesh::client::bytes, std::string> json_argument(const char* flag,
                                                             const std::string& text) {
  try {
    return mesh::client::json_to_msgpack(json::parse(text));
  } catch (const json::exception& e) {
    return tl::unexpected(std::string(flag) + " is not valid JSON: " + e.what());
  }
}

void add_actor_options(CLI::App& cmd, options& opt, const char* timeout_help) {
  cmd.add_option("--capability", opt.capability, "Capability the module belongs to")->required();
  cmd.add_option("--module", opt.module, "Actor module (type) name")->required();
  cmd.add_option("--id", opt.id, "Actor id")->required();
  cmd.add_option("--payload", opt.payload, "Message as JSON (default: null)");
  cmd.add_option("--init-arg", opt.init_arg,
                 "Argument for the actor's constructor as JSON; used only if this request "
                 "activates the actor");
  cmd.add_option("--timeout-ms", opt.timeout_ms, timeout_help)
      ->check(CLI::Range(uint32_t{1}, mesh::wire::max_timeout_ms))
      ->capture_default_str();
}

void add_wait_option(CLI::App& cmd, options& opt) {
  cmd.add_option("--timeout-ms", opt.timeout_ms, "How long to wait for the host's reply")
      ->check(CLI::Range(uint32_t{1}, mesh::wire::max_timeout_ms))
      ->capture_default_str();
}

json actor_json(const mesh::client::actor_info& a) {
  return {{"host", a.host}, {"module", a.module}, {"id", a.id}, {"activation", a.activation}};
}

/// Runs call or cast; `is_call` picks which.
int run_actor_request(mesh::client::connection& conn, const options& opt, bool is_call) {
  if (opt.capability.empty() || opt.module.empty() || opt.id.empty())
    return print_error("bad_argument", "--capability, --module and --id must not be empty",
                       opt.pretty, exit_usage);
  auto payload = json_argument("--payload", opt.payload.value_or("null"));
  if (!payload) return print_error("bad_argument", payload.error(), opt.pretty, exit_usage);
  std::optional<mesh::client::bytes> init;
  if (opt.init_arg) {
    auto parsed = json_argument("--init-arg", *opt.init_arg);
    if (!parsed) return print_error("bad_argument", parsed.error(), opt.pretty, exit_usage);
    init = std::move(*parsed);
  }
  const milliseconds timeout{opt.timeout_ms};
  if (!is_call) {
    auto r = conn.cast(opt.capability, opt.module, opt.id, *payload, init, timeout);
    if (!r) return print_error(r.error(), opt.pretty);
    print({{"ok", true}}, opt.pretty);
    return exit_ok;
  }
  auto r = conn.call(opt.capability, opt.module, opt.id, *payload, init, timeout);
  if (!r) return print_error(r.error(), opt.pretty);
  auto reply = mesh::client::json_from_msgpack(r->reply);
  if (!reply)
    return print_error("protocol_error",
                       "the actor's reply is unreadable: " + reply.error().message, opt.pretty,
                       exit_no_reply);
  print({{"ok", true}, {"actor", actor_json(r->actor)}, {"reply", std::move(*reply)}}, opt.pretty);
  return exit_ok;
}

/// Computes the shard locally, without a host.
int run_local_shard(const options& opt) {
  print({{"ok", true},
         {"id", opt.id},
         {"shard", mesh::wire::shard_for(opt.id, opt.shards)},
         {"shards", opt.shards}},
        opt.pretty);
  return exit_ok;
}

/// Asks the host for the shard under its own shard count.
int run_remote_shard(mesh::client::connection& conn, const options& opt) {
  auto r = conn.shard(opt.id, milliseconds{opt.timeout_ms});
  if (!r) return print_error(r.error(), opt.pretty);
  print({{"ok", true}, {"id", opt.id}, {"shard", r->shard}, {"shards", r->shards}}, opt.pretty);
  return exit_ok;
}

int run_register(mesh::client::connection& conn, const options& opt) {
  for (const auto& name : opt.capabilities)
    if (name.empty())
      return print_error("bad_argument", "capability names must not be empty", opt.pretty,
                         exit_usage);
  auto r = conn.register_capabilities(opt.capabilities, milliseconds{opt.timeout_ms});
  if (!r) return print_error(r.error(), opt.pretty);
  print({{"ok", true}, {"capabilities", *r}}, opt.pretty);
  return exit_ok;
}

int run_capabilities(mesh::client::connection& conn, const options& opt) {
  auto r = conn.capabilities(milliseconds{opt.timeout_ms});
  if (!r) return print_error(r.error(), opt.pretty);
  json modules = json::array();
  for (const auto& m : r->modules)
    modules.push_back({{"module", m.module}, {"capability", m.capability}, {"plugin", m.plugin}});
  print({{"ok", true},
         {"host", r->host},
         {"capabilities", r->capabilities},
         {"modules", std::move(modules)}},
        opt.pretty);
  return exit_ok;
}

int run_ping(mesh::client::connection& conn, const options& opt) {
  const auto start = std::chrono::steady_clock::now();
  auto r = conn.ping(milliseconds{opt.timeout_ms});
  const std::chrono::duration<double, std::milli> rtt = std::chrono::steady_clock::now() - start;
  if (!r) return print_error(r.error(), opt.pretty);
  print({{"ok", true}, {"host", r->host}, {"shards", r->shards}, {"rtt_ms", rtt.count()}},
        opt.pretty);
  return exit_ok;
}

/// Sends a query op and prints its reply envelope as JSON, without the protocol fields.
int run_query(mesh::client::connection& conn, const options& opt, mesh::wire::op kind) {
  mesh::wire::request req;
  req.kind = kind;
  req.capability = opt.capability;
  req.id = {reinterpret_cast<const uint8_t*>(opt.id.data()), opt.id.size()};
  auto r = conn.request(req, milliseconds{opt.timeout_ms});
  if (!r) return print_error(r.error(), opt.pretty);
  auto doc = mesh::client::json_from_msgpack(r->envelope);
  if (!doc) return print_error(doc.error(), opt.pretty);
  doc->erase("v");
  doc->erase("rid");
  print(*doc, opt.pretty);
  return exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  CLI::App app{"meshctl: call actors on a Mesh host and query it"};
  app.footer(exit_codes_text);
  app.require_subcommand(1);
  app.fallthrough();  // --connect and --pretty work before or after the verb
  app.add_option("--connect", opt.endpoint, "Host endpoint (ZeroMQ address)")
      ->envname("MESH_CONNECT")
      ->capture_default_str();
  app.add_flag("--pretty", opt.pretty, "Indent the JSON output");

  auto* call = app.add_subcommand("call", "Call an actor and print its reply");
  add_actor_options(*call, opt,
                    "Call deadline, enforced by the host; meshctl itself waits 1000 ms longer");
  call->footer(
      "Example:\n"
      "  meshctl call --capability game --module GameActor --id player_1 \\\n"
      "      --payload '{\"action\":\"move\",\"x\":1,\"y\":2}'\n"
      "Prints {\"ok\":true,\"actor\":{\"host\":...,\"module\":...,\"id\":...,"
      "\"activation\":...},\"reply\":...}");

  auto* cast = app.add_subcommand("cast", "Send a one-way message to an actor");
  add_actor_options(*cast, opt, "How long to wait for the host's acknowledgement");
  cast->footer(
      "The host acknowledges as soon as it accepts the message, before the handler runs.\n"
      "Example:\n"
      "  meshctl cast --capability chat --module ChatRoom --id room-42 \\\n"
      "      --payload '{\"say\":\"hello\"}'\n"
      "Prints {\"ok\":true}");

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
      "Prints {\"ok\":true,\"id\":\"player_1\",\"shard\":...,\"shards\":4096}");

  auto* reg = app.add_subcommand("register-capabilities", "Make the host serve more capabilities");
  reg->add_option("capabilities", opt.capabilities, "Capability names, comma-separated")
      ->required()
      ->delimiter(',');
  add_wait_option(*reg, opt);
  reg->footer(
      "Example:\n"
      "  meshctl register-capabilities game,chat\n"
      "Prints {\"ok\":true,\"capabilities\":[every capability served afterwards]}");

  auto* caps = app.add_subcommand("capabilities", "List served capabilities and loaded modules");
  add_wait_option(*caps, opt);
  caps->footer(
      "Example:\n"
      "  meshctl capabilities\n"
      "Prints {\"ok\":true,\"host\":...,\"capabilities\":[...],\"modules\":[{\"module\":...,"
      "\"capability\":...,\"plugin\":...}]}");

  auto* ping = app.add_subcommand("ping", "Check that the host answers");
  add_wait_option(*ping, opt);
  ping->footer(
      "Example:\n"
      "  meshctl --connect tcp://127.0.0.1:7100 ping\n"
      "Prints {\"ok\":true,\"host\":...,\"shards\":...,\"rtt_ms\":...}");

  auto* members = app.add_subcommand("members", "List the cluster's hosts as this host sees them");
  add_wait_option(*members, opt);
  members->footer(
      "Example:\n"
      "  meshctl --connect tcp://127.0.0.1:7100 members\n"
      "Prints {\"ok\":true,\"epoch\":...,\"members\":[{\"name\",\"endpoint\",\"gossip\",\"caps\","
      "\"status\",\"incarnation\",\"version\",\"self\",\"last_heard_ms\"}...]}");

  auto* nodes = app.add_subcommand("nodes-for", "List the hosts that have a capability");
  nodes->add_option("capability", opt.capability, "Capability name")->required();
  add_wait_option(*nodes, opt);
  nodes->footer(
      "Example:\n"
      "  meshctl nodes-for game\n"
      "Prints {\"ok\":true,\"cap\":\"game\",\"nodes\":[\"node1\",\"node3\"]}");

  auto* owner = app.add_subcommand("owner", "Show the shard and the owner host of an actor id");
  owner->add_option("id", opt.id, "Actor id")->required();
  owner->add_option("--capability", opt.capability, "Capability")->required();
  add_wait_option(*owner, opt);
  owner->footer(
      "Example:\n"
      "  meshctl owner player_1 --capability game\n"
      "Prints {\"ok\":true,\"shard\":2486,\"shards\":4096,\"owner\":\"node3\",\"endpoint\":...}");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);  // help goes to stdout, errors to stderr
    if (status == 0) return exit_ok;
    return print_error("bad_argument", e.what(), opt.pretty, exit_usage);
  }

  try {
    if (*shard && !opt.remote) return run_local_shard(opt);
    std::optional<mesh::client::connection> conn;
    try {
      conn.emplace(opt.endpoint);
    } catch (const zmq::error_t& e) {
      return print_error("bad_argument", "cannot connect to \"" + opt.endpoint + "\": " + e.what(),
                         opt.pretty, exit_usage);
    }
    if (*shard) return run_remote_shard(*conn, opt);
    if (*call) return run_actor_request(*conn, opt, true);
    if (*cast) return run_actor_request(*conn, opt, false);
    if (*reg) return run_register(*conn, opt);
    if (*caps) return run_capabilities(*conn, opt);
    if (*ping) return run_ping(*conn, opt);
    if (*members) return run_query(*conn, opt, mesh::wire::op::members);
    if (*nodes) return run_query(*conn, opt, mesh::wire::op::nodes_for);
    if (*owner) return run_query(*conn, opt, mesh::wire::op::owner);
  } catch (const zmq::error_t& e) {
    return print_error("transport", e.what(), opt.pretty, exit_no_reply);
  } catch (const std::exception& e) {
    return print_error("internal", e.what(), opt.pretty, exit_no_reply);
  }
  return print_error("bad_argument", "no command given", opt.pretty, exit_usage);
}
