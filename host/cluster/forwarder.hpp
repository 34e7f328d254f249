// Forwarding: requests for keys another host owns go to that host, and its replies come back.
//
// The forwarder owns one DEALER link per peer host and the requests sent over them until they are
// answered, re-routed or timed out. A request is sent unchanged (its frame's bytes are shared,
// never re-encoded) behind a forward header that numbers it; the owner's reply comes back behind
// the same number and is relayed unchanged to the client. An owner that answers "wrong owner"
// (its view differs), an owner that is not connected, and an owner that left the view or
// restarted all make the request be routed again, by the view of that moment, until its deadline
// or max_attempts refusals.
//
// The forwarder never touches the client's socket: what it finishes it hands back to the server
// (relayed_reply: send this reply; returned_request: answer with this error, or serve it here).
// Dispatcher-owned, like the server: every method runs on the dispatcher thread.
#pragma once

#include <mesh/discovery/member.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "cluster/routing_table.hpp"
#include "server/deadlines.hpp"
#include "server/host_config.hpp"
#include "server/host_stats.hpp"
#include "server/inbound.hpp"
#include <mesh/wire/buffer.hpp>
#include <mesh/wire/envelope.hpp>

namespace mesh::host {

/// A forwarded request that its owner answered: send `body` (the owner's reply envelope,
/// unchanged) to the client of `in`.
struct relayed_reply {
  std::unique_ptr<inbound> in;
  zmq::message_t body;
};

/// A forwarded request the forwarder gives back instead of sending it on.
struct returned_request {
  std::unique_ptr<inbound> in;
  /// This host owns the key now: serve `req` here. Otherwise answer `code` and `message`.
  bool serve_here = false;
  wire::request req;  ///< serve_here: decoded from in->frame (its views point into it)
  wire::error_code code = wire::error_code::internal;
  std::string message;
};

/// The links to peer hosts and the requests in flight over them.
class forwarder {
 public:
  using clock = std::chrono::steady_clock;
  /// Base delay of a retry (a refusal waits this times its attempts; an unreachable owner this,
  /// doubling, up to 100 ms). The dispatcher wakes at least this often while retries wait.
  static constexpr std::chrono::milliseconds retry_step{10};
  /// Refusals ("wrong owner") after which a request is answered wrong_owner.
  static constexpr uint32_t max_attempts = 12;

  /// `config` (name, shards, security) and `local_endpoint` (the bound request endpoint, which
  /// outgoing links connect from) are the server's and must outlive the forwarder, as must
  /// `context`, `timers` (where forwarded requests' deadlines are tracked) and `stats`.
  forwarder(zmq::context_t& context, const host_config& config, const std::string& local_endpoint,
            deadlines& timers, host_counters& stats);
  forwarder(const forwarder&) = delete;
  forwarder& operator=(const forwarder&) = delete;

  /// Sends `in` to `owner` behind a forward header (with the view's `epoch`; `attempts`: the
  /// refusals so far), keeps it until it is answered and tracks its deadline. If the owner is
  /// not connected, schedules a retry instead (`unreachable`: such sends in a row so far).
  void forward(std::unique_ptr<inbound> in, const discovery::member_record& owner, uint64_t epoch,
               uint32_t attempts = 0, uint32_t unreachable = 0);

  /// Appends one ZMQ_POLLIN item per peer link to `items` and remembers their order.
  void add_poll_items(std::vector<zmq::pollitem_t>& items);
  /// A link was opened or closed since add_poll_items(): the poll items are stale.
  bool links_changed() const noexcept { return links_changed_; }
  /// Reads the replies waiting on the links whose poll items are readable (`items` points at
  /// the first item add_poll_items() appended) and moves each answered request, with its reply,
  /// into `out`. A refusal schedules a retry instead. Does nothing if links_changed().
  void receive_replies(const zmq::pollitem_t* items, std::vector<relayed_reply>& out);

  /// Retries are waiting (due now or soon).
  bool retries_waiting() const noexcept { return !retries_.empty() || backlogged_ != 0; }
  /// Routes again, by `routes`, the requests whose retry is due at `now`: sends each to its
  /// owner, or moves it into `out` (its deadline passed, too many refusals, no host has the
  /// capability any more, or this host owns it now).
  void run_due_retries(clock::time_point now, const routing_table& routes,
                       std::vector<returned_request>& out);

  /// A new view: routes again the requests sent to a host that left it or to a run of that host
  /// that a restart replaced, and closes the links to hosts gone from it.
  void view_changed(const routing_table& routes);

  /// Request `fseq` is still waiting for its owner's reply.
  bool waiting(uint64_t fseq) const { return forwards_.count(fseq) != 0; }
  /// Stops waiting for request `fseq` (its deadline passed) and hands it back; nullptr if it is
  /// not waiting.
  std::unique_ptr<inbound> take(uint64_t fseq);
  /// Requests sent and not yet answered, re-routed or timed out (retries waiting included).
  size_t in_flight() const noexcept { return forwards_.size(); }

 private:
  struct peer_link {
    zmq::socket_t socket;
    std::string endpoint;
    /// Requests that found the link not connected, in the order they came: sent again in that
    /// order, and later requests for the link wait behind them, so that requests from one
    /// sender to one owner arrive in the order sent (docs/PLUGINS.md: ordering).
    std::deque<uint64_t> backlog;
    clock::time_point retry_at{};  ///< when the backlog is tried again
    uint32_t failures = 0;         ///< backlog sends in a row that found it not connected
  };
  struct pending {
    std::unique_ptr<inbound> in;
    std::string target;
    uint64_t target_incarnation = 0;  ///< the run of `target` it was sent to
    uint32_t attempts = 0;            ///< how often a host answered wrong_owner
    uint32_t unreachable = 0;         ///< consecutive sends that found the target not connected
    bool refused = false;             ///< the target answered wrong_owner
    std::string hint;                 ///< the owner the refusing host named
  };

  /// The link to `owner`, opened (or re-opened on a new endpoint) on first use.
  peer_link& link_to(const discovery::member_record& owner);
  void receive_from(peer_link& link, std::vector<relayed_reply>& out);
  void retry(uint64_t fseq, const routing_table& routes, std::vector<returned_request>& out);

  zmq::context_t& context_;
  const host_config& config_;
  const std::string& local_endpoint_;
  deadlines& timers_;
  host_counters& stats_;
  wire::buffer header_;
  std::map<std::string, peer_link> peers_;
  std::vector<peer_link*> poll_links_;  ///< in the order of add_poll_items()
  bool links_changed_ = true;
  std::unordered_map<uint64_t, pending> forwards_;
  std::deque<std::pair<clock::time_point, uint64_t>> retries_;  ///< (due, fseq), unordered
  size_t backlogged_ = 0;  ///< links with a backlog
};

}  // namespace mesh::host
