// The membership state machine: merges gossip, detects failures, and yields the view of live
// hosts that placement is computed from. No sockets and no clock of its own: the caller passes
// `now`, so tests step time instead of waiting for it.
//
// Authority (docs/CLUSTER.md "Who may say what about a host"): a host's record (capabilities,
// endpoints, leaving, incarnation and version) is taken only from that host's own messages
// (`gossip_message::from`). What a third party's digest says about a host counts only as news
// that the host exists (a host not yet heard joins provisionally and its gossip endpoint is
// followed; its own first message replaces the relayed record whole) and as a suspicion of the
// host's current (incarnation, version), which only the host's own newer version refutes. Messages older than what we hold (incarnation, version, or seq within a version) are
// replays and change nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "mesh/discovery/member.hpp"

namespace mesh::discovery {

using clock = std::chrono::steady_clock;

/// Failure-detection timing.
struct failure_profile {
  /// How often a host publishes its gossip (its heartbeat).
  std::chrono::milliseconds heartbeat{500};
  /// Silence after which a peer is suspected.
  std::chrono::milliseconds suspect_after{1500};
  /// Silence after which a suspected peer is declared dead (with a second host's confirmation
  /// when more than two hosts are alive).
  std::chrono::milliseconds dead_after{3000};
  /// How long a dead or departed host is remembered (so stale gossip cannot revive it).
  std::chrono::milliseconds forget_after{60000};
  /// Lifeguard's local health awareness: a host that finds itself slow (its own heartbeat loop
  /// ran late, or it had to refute a suspicion of itself) stretches its own suspect_after and
  /// dead_after by up to this factor before it accuses anyone (memberlist's
  /// AwarenessMaxMultiplier is 8).
  int max_health_multiplier = 8;
  /// Timely heartbeats that lower the local health score by one point again.
  int health_recovery_beats = 10;
  /// Lifeguard's dynamic suspicion timeout: with one confirmation out of several possible, a
  /// suspected host gets up to this multiple of dead_after to refute; each further independent
  /// confirmation brings it down towards dead_after (log-scaled, as memberlist's suspicion.go).
  int suspicion_max_multiplier = 2;

  /// Production default: a crash is noticed in about 3-3.5 s.
  static failure_profile standard() { return {}; }
  /// For tests: a crash is noticed in about 1 s.
  static failure_profile test() {
    return {std::chrono::milliseconds(100), std::chrono::milliseconds(350),
            std::chrono::milliseconds(800), std::chrono::milliseconds(60000)};
  }
};

/// One host as this host sees it.
struct member_info {
  member_record record;
  member_status status = member_status::alive;
  bool self = false;
  clock::time_point last_heard{};
};

/// The hosts that own keys right now: alive or suspected (not dead, not leaving), compatible.
struct member_view {
  std::vector<member_record> members;  ///< sorted by name
  uint64_t epoch = 0;                  ///< hash of the members' names, incarnations, capabilities

  /// Names of the members with `capability`, sorted.
  std::vector<std::string> hosts_with(const std::string& capability) const;
  const member_record* find(const std::string& name) const;
};

/// What changed in one step, for logs and counters.
struct membership_event {
  enum kind {
    joined,
    updated,
    suspected,
    recovered,
    died,
    left,
    refuted,
    refused,
    heard_of,  ///< a third party named a host we have not heard: we follow its gossip endpoint
    health,    ///< this host's local health score changed (`name` is this host)
  } what;
  std::string name;
  std::string detail;
};

class membership {
 public:
  /// `self` is this host's record (its incarnation must grow across restarts).
  membership(member_record self, failure_profile profile);

  /// Merges a gossip message that arrived from its sender at `now`.
  void on_gossip(const gossip_message& msg, clock::time_point now);
  /// Advances failure detection to `now`. Call it once a heartbeat: a call that comes late
  /// (more than two heartbeats after the last) means this host was not running (paused, or
  /// starved of CPU). It then lowers its local health, and the time it was not running does not
  /// count as any peer's silence: it could not have heard them.
  void tick(clock::time_point now);

  /// Changes this host's capabilities (sorted inside); bumps its version.
  void set_capabilities(std::vector<std::string> capabilities);
  /// Announces that this host is leaving; bumps its version.
  void set_leaving();

  /// The next message to publish (increments the sequence number).
  gossip_message make_gossip();
  /// The current view; recomputed after every change.
  const member_view& view() const noexcept { return view_; }
  /// Every member known (self included), for queries and logs.
  std::vector<member_info> members() const;
  /// Gossip endpoints of every known peer and of every host a peer named that we have not heard
  /// from yet (for the SUB socket).
  std::vector<std::string> peer_gossip_endpoints() const;
  /// Messages ignored as replays (older than what we hold from their sender) so far.
  uint64_t replays() const noexcept { return replays_; }
  /// Local health score, 0 (healthy) to max_health_multiplier - 1: this host's suspect and dead
  /// timeouts are multiplied by score + 1.
  int health_score() const noexcept { return health_score_; }
  /// The silence after which this host suspects / declares dead a peer now (health applied;
  /// dead_after before confirmations shorten it).
  clock::duration suspect_timeout() const noexcept;
  clock::duration dead_timeout(size_t confirmations, size_t possible) const noexcept;
  /// Events since the last call.
  std::vector<membership_event> take_events();

  const member_record& self() const noexcept { return self_; }
  const failure_profile& profile() const noexcept { return profile_; }

 private:
  struct peer {
    member_info info;
    std::set<std::string> suspected_by;  ///< hosts whose gossip says suspect/dead
    clock::time_point status_since{};
    uint64_t last_seq = 0;  ///< highest `seq` accepted from it at its current version
    /// False while only a third party has named it: its record is provisional, replaced whole
    /// by its own first message, and never changed by anyone else.
    bool heard = false;
  };
  /// A host a third party named and we have not heard from (or heard only an older incarnation
  /// of): where to listen for it. Nothing else of the third party's record is kept.
  struct rumour {
    std::string gossip;
    uint64_t incarnation = 0;
    clock::time_point last_named{};
  };

  bool compatible(const member_record& r, std::string* why) const;
  /// Merges the sender's own record; false when the message is a replay (ignore it whole).
  bool merge_direct(const gossip_message& msg, clock::time_point now);
  void merge_opinion(const std::string& from, const digest_entry& e, clock::time_point now);
  void note_rumour(const member_record& r, const std::string& from, clock::time_point now);
  void set_status(peer& p, member_status s, clock::time_point now, std::string detail = {});
  size_t alive_peers_except(const std::string& name) const;
  /// Alive peers (other than `p` itself) whose gossip says `p` is suspect or dead.
  size_t confirmations(const peer& p) const;
  void rebuild_view();
  /// Raises (`delta` > 0) or lowers the local health score, within its bounds.
  void change_health(int delta, const char* reason);
  /// Notes how late this tick came; forgives peers the time this host was not running.
  void note_own_lag(clock::time_point now);

  static constexpr size_t max_rumours = 4096;

  member_record self_;
  failure_profile profile_;
  uint64_t replays_ = 0;
  uint64_t seq_ = 0;
  int health_score_ = 0;
  int timely_beats_ = 0;
  clock::time_point last_tick_{};
  std::map<std::string, peer> peers_;
  std::map<std::string, rumour> rumours_;  ///< at most max_rumours
  std::set<std::string> refused_;         ///< incompatible hosts already logged
  member_view view_;
  std::vector<membership_event> events_;
};

}  // namespace mesh::discovery
