#include "mesh/discovery/membership.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace mesh::discovery {
namespace {

uint64_t mix(uint64_t h, std::string_view s) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= 0xff;  // separator, so ("ab","c") and ("a","bc") differ
  h *= 0x100000001b3ULL;
  return h;
}

uint64_t mix(uint64_t h, uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    h ^= (v >> (8 * i)) & 0xff;
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

std::vector<std::string> member_view::hosts_with(const std::string& capability) const {
  std::vector<std::string> out;
  for (const auto& m : members)
    if (m.has_capability(capability)) out.push_back(m.name);
  return out;
}

const member_record* member_view::find(const std::string& name) const {
  for (const auto& m : members)
    if (m.name == name) return &m;
  return nullptr;
}

membership::membership(member_record self, failure_profile profile)
    : self_(std::move(self)), profile_(profile) {
  std::sort(self_.capabilities.begin(), self_.capabilities.end());
  self_.capabilities.erase(std::unique(self_.capabilities.begin(), self_.capabilities.end()),
                           self_.capabilities.end());
  rebuild_view();
}

bool membership::compatible(const member_record& r, std::string* why) const {
  if (r.shards != self_.shards) {
    *why = "shard count " + std::to_string(r.shards) + " differs from ours (" +
           std::to_string(self_.shards) + ")";
    return false;
  }
  if (r.strategy != self_.strategy) {
    *why = "placement strategy \"" + r.strategy + "\" differs from ours (\"" + self_.strategy +
           "\")";
    return false;
  }
  return true;
}

void membership::on_gossip(const gossip_message& msg, clock::time_point now) {
  if (msg.from.name == self_.name) return;  // our own message (we subscribed to ourselves)
  std::string why;
  if (!compatible(msg.from, &why)) {
    if (refused_.insert(msg.from.name).second)
      events_.push_back({membership_event::refused, msg.from.name, why});
    return;
  }
  if (!merge_direct(msg, now)) return;
  for (const auto& e : msg.members) merge_opinion(msg.from.name, e, now);
}

bool membership::merge_direct(const gossip_message& msg, clock::time_point now) {
  const member_record& r = msg.from;
  if (r.name.empty()) return false;
  auto it = peers_.find(r.name);
  if (it == peers_.end()) {
    if (r.leaving) return false;  // never learn a departing host
    peer p;
    p.info.record = r;
    p.info.status = member_status::alive;
    p.info.last_heard = now;
    p.status_since = now;
    p.last_seq = msg.seq;
    p.heard = true;
    peers_.emplace(r.name, std::move(p));
    rumours_.erase(r.name);
    events_.push_back({membership_event::joined, r.name,
                       "incarnation=" + std::to_string(r.incarnation)});
    rebuild_view();
    return true;
  }
  peer& p = it->second;
  if (!p.heard) {
    // Its first own message: whatever the third party said is replaced, whatever its order.
    p.heard = true;
    p.last_seq = msg.seq;
    p.info.record = r;
    p.info.last_heard = now;
    p.suspected_by.clear();
    rumours_.erase(r.name);
    set_status(p, r.leaving ? member_status::leaving : member_status::alive, now, "reason=heard");
    rebuild_view();
    return true;
  }
  const member_record& known = p.info.record;
  const bool newer = r.newer_than(known.incarnation, known.version);
  // An older record, or an earlier message of the same version: a replay (or the second copy of
  // a message that reached us both downstream and upstream). It says nothing we do not know and
  // is no evidence that the host is alive now.
  if (known.newer_than(r.incarnation, r.version) || (!newer && msg.seq <= p.last_seq)) {
    if (!(!newer && msg.seq == p.last_seq)) ++replays_;
    return false;
  }
  p.last_seq = msg.seq;
  if (auto rumoured = rumours_.find(r.name);
      rumoured != rumours_.end() && rumoured->second.incarnation <= r.incarnation)
    rumours_.erase(rumoured);
  bool view_changed = false;
  if (newer) {
    const bool restarted = r.incarnation != known.incarnation;
    const bool caps_changed = r.capabilities != known.capabilities;
    p.info.record = r;
    if (restarted) p.suspected_by.clear();
    // Back from the dead by its own word, or restarted since it announced leaving.
    const bool returns = p.info.status == member_status::dead ||
                         (restarted && p.info.status == member_status::leaving);
    if (returns && !r.leaving) {
      p.suspected_by.clear();
      set_status(p, member_status::alive, now,
                 restarted ? "reason=rejoined incarnation=" + std::to_string(r.incarnation)
                           : "reason=refuted");
      view_changed = true;
    } else if (r.leaving && p.info.status != member_status::leaving &&
               p.info.status != member_status::dead) {
      set_status(p, member_status::leaving, now);
      view_changed = true;
    } else if (caps_changed || restarted) {
      events_.push_back({membership_event::updated, r.name, "version=" + std::to_string(r.version)});
      view_changed = true;
    }
  }
  p.info.last_heard = now;
  if (p.info.status == member_status::suspect) {
    set_status(p, member_status::alive, now);
    view_changed = true;
  }
  if (view_changed) rebuild_view();
  return true;
}

void membership::merge_opinion(const std::string& from, const digest_entry& e,
                               clock::time_point now) {
  const member_record& r = e.record;
  const bool suspicion = e.status == member_status::suspect || e.status == member_status::dead;
  if (r.name == self_.name) {
    // A suspicion of our current record, or of a later version of this incarnation (which only
    // a forger can have put about: we step past it so that our own messages count again).
    // Never one at the largest version, which has no successor: that would wrap to 0.
    const bool about_current = r.incarnation == self_.incarnation && r.version >= self_.version &&
                               r.version < std::numeric_limits<uint64_t>::max();
    if (about_current && suspicion && !self_.leaving) {
      self_.version = r.version + 1;
      events_.push_back({membership_event::refuted, self_.name,
                         "status=" + std::string(to_string(e.status)) + " by=" + from +
                             " version=" + std::to_string(self_.version)});
      // Lifeguard: a host others suspect is more likely the slow one than they are.
      change_health(+1, "refuted");
    }
    return;
  }
  if (r.name.empty()) return;
  auto it = peers_.find(r.name);
  const bool named_alive = e.status == member_status::alive || e.status == member_status::suspect;
  if (it == peers_.end()) {
    // A host we have not heard: it joins provisionally, with the relayed record, so that every
    // host routes by the same view while we subscribe to it; its own first message replaces
    // the record whole, and nobody else changes it.
    std::string why;
    if (named_alive && !r.leaving && compatible(r, &why)) {
      peer p;
      p.info.record = r;
      p.info.status = member_status::alive;
      p.info.last_heard = now;  // grace: suspect_after to be heard itself
      p.status_since = now;
      peers_.emplace(r.name, std::move(p));
      events_.push_back({membership_event::joined, r.name,
                         "incarnation=" + std::to_string(r.incarnation) + " via=" + from});
      rebuild_view();
    }
    return;
  }
  if (r.incarnation > it->second.info.record.incarnation) {
    // A restart we have not heard: only where to listen for it.
    if (named_alive) note_rumour(r, from, now);
    return;
  }
  peer& p = it->second;
  if (r.incarnation != p.info.record.incarnation || r.version != p.info.record.version) return;
  if (suspicion) {
    p.suspected_by.insert(from);
  } else {
    p.suspected_by.erase(from);
  }
}

void membership::note_rumour(const member_record& r, const std::string& from,
                             clock::time_point now) {
  std::string why;
  if (r.gossip.empty() || r.leaving || !compatible(r, &why)) return;
  auto it = rumours_.find(r.name);
  if (it == rumours_.end()) {
    if (rumours_.size() >= max_rumours) return;
    it = rumours_.emplace(r.name, rumour{r.gossip, r.incarnation, now}).first;
    events_.push_back({membership_event::heard_of, r.name, "via=" + from + " gossip=" + r.gossip});
    return;
  }
  it->second.last_named = now;
  if (r.incarnation > it->second.incarnation) {
    it->second.incarnation = r.incarnation;
    if (it->second.gossip != r.gossip) {
      it->second.gossip = r.gossip;
      events_.push_back(
          {membership_event::heard_of, r.name, "via=" + from + " gossip=" + r.gossip});
    }
  }
}

size_t membership::alive_peers_except(const std::string& name) const {
  size_t n = 0;
  for (const auto& [peer_name, p] : peers_)
    if (peer_name != name && p.info.status == member_status::alive) ++n;
  return n;
}

size_t membership::confirmations(const peer& p) const {
  size_t n = 0;
  for (const auto& by : p.suspected_by) {
    auto other = peers_.find(by);
    if (other != peers_.end() && other->second.info.status == member_status::alive) ++n;
  }
  return n;
}

clock::duration membership::suspect_timeout() const noexcept {
  return profile_.suspect_after * (health_score_ + 1);
}

clock::duration membership::dead_timeout(size_t confirmations, size_t possible) const noexcept {
  // memberlist's suspicion.go: max - log(n+1)/log(k+1) * (max - min), for n of k confirmations.
  const auto min = std::chrono::duration_cast<clock::duration>(profile_.dead_after);
  auto timeout = min;
  if (possible > 1 && confirmations < possible) {
    const auto max = min * std::max(1, profile_.suspicion_max_multiplier);
    const double frac = std::log(static_cast<double>(confirmations) + 1) /
                        std::log(static_cast<double>(possible) + 1);
    timeout = max - std::chrono::duration_cast<clock::duration>((max - min) * frac);
  }
  return timeout * (health_score_ + 1);
}

void membership::change_health(int delta, const char* reason) {
  const int before = health_score_;
  health_score_ = std::clamp(health_score_ + delta, 0, std::max(1, profile_.max_health_multiplier) - 1);
  timely_beats_ = 0;
  if (health_score_ != before || delta > 0)  // every sign of slowness is logged, even at the cap
    events_.push_back({membership_event::health, self_.name,
                       "score=" + std::to_string(health_score_) + " reason=" + reason});
}

void membership::note_own_lag(clock::time_point now) {
  const clock::time_point last = last_tick_;
  last_tick_ = now;
  if (last == clock::time_point{} || now <= last) return;
  const auto gap = now - last;
  if (gap <= 2 * profile_.heartbeat) {
    if (health_score_ > 0 && ++timely_beats_ >= profile_.health_recovery_beats)
      change_health(-1, "timely");
    return;
  }
  // This host did not run for `gap` less a heartbeat (a pause, or no CPU): nothing it did not
  // hear meanwhile says anything about its peers. Their silence restarts from where it stood.
  const auto lost = gap - std::chrono::duration_cast<clock::duration>(profile_.heartbeat);
  for (auto& [name, p] : peers_) p.info.last_heard = std::min(now, p.info.last_heard + lost);
  change_health(+1, "late_tick");
}

void membership::tick(clock::time_point now) {
  note_own_lag(now);
  bool view_changed = false;
  for (auto it = peers_.begin(); it != peers_.end();) {
    peer& p = it->second;
    const auto silent = now - p.info.last_heard;
    switch (p.info.status) {
      case member_status::alive:
        if (silent > suspect_timeout()) set_status(p, member_status::suspect, now);
        break;
      case member_status::suspect: {
        // With more than two hosts alive, wait for a second host to suspect it too: one
        // host's deafness (a one-way partition) must not kill a healthy peer. The more hosts
        // could confirm, the longer a suspicion with few confirmations lasts (Lifeguard).
        // A host only ever named by others needs no confirmation: we never heard it.
        const size_t possible = p.heard ? std::min<size_t>(alive_peers_except(it->first), 3) : 0;
        const size_t confirmed_by = confirmations(p);
        const bool confirmed = possible == 0 || confirmed_by > 0;
        if (confirmed && silent > dead_timeout(confirmed_by, possible)) {
          set_status(p, member_status::dead, now,
                     "silent_ms=" +
                         std::to_string(
                             std::chrono::duration_cast<std::chrono::milliseconds>(silent).count()));
          view_changed = true;
        }
        break;
      }
      case member_status::leaving:
        if (silent > profile_.suspect_after) {
          set_status(p, member_status::dead, now);  // already reported as left
          view_changed = true;
        }
        break;
      case member_status::dead:
        if (now - p.status_since > profile_.forget_after) {
          it = peers_.erase(it);
          continue;
        }
        break;
    }
    ++it;
  }
  for (auto it = rumours_.begin(); it != rumours_.end();) {
    if (now - it->second.last_named > profile_.forget_after)
      it = rumours_.erase(it);
    else
      ++it;
  }
  if (view_changed) rebuild_view();
}

void membership::set_status(peer& p, member_status s, clock::time_point now, std::string detail) {
  if (p.info.status == s) return;
  const member_status before = p.info.status;
  p.info.status = s;
  p.status_since = now;
  membership_event::kind k = membership_event::updated;
  switch (s) {
    case member_status::alive:
      k = membership_event::recovered;
      break;
    case member_status::suspect:
      k = membership_event::suspected;
      break;
    case member_status::dead:
      // A host that left and then went silent: its departure was reported already.
      if (before == member_status::leaving) return;
      k = membership_event::died;
      break;
    case member_status::leaving:
      k = membership_event::left;
      break;
  }
  events_.push_back({k, p.info.record.name, std::move(detail)});
}

void membership::set_capabilities(std::vector<std::string> capabilities) {
  std::sort(capabilities.begin(), capabilities.end());
  capabilities.erase(std::unique(capabilities.begin(), capabilities.end()), capabilities.end());
  if (capabilities == self_.capabilities) return;
  self_.capabilities = std::move(capabilities);
  ++self_.version;
  rebuild_view();
}

void membership::set_leaving() {
  if (self_.leaving) return;
  self_.leaving = true;
  ++self_.version;
  rebuild_view();
}

gossip_message membership::make_gossip() {
  gossip_message msg;
  msg.from = self_;
  msg.seq = ++seq_;
  msg.members.reserve(peers_.size());
  for (const auto& [name, p] : peers_) msg.members.push_back({p.info.record, p.info.status});
  return msg;
}

std::vector<member_info> membership::members() const {
  std::vector<member_info> out;
  member_info me;
  me.record = self_;
  me.status = self_.leaving ? member_status::leaving : member_status::alive;
  me.self = true;
  out.push_back(me);
  for (const auto& [name, p] : peers_) out.push_back(p.info);
  std::sort(out.begin(), out.end(), [](const member_info& a, const member_info& b) {
    return a.record.name < b.record.name;
  });
  return out;
}

std::vector<std::string> membership::peer_gossip_endpoints() const {
  std::vector<std::string> out;
  for (const auto& [name, p] : peers_)
    if (!p.info.record.gossip.empty()) out.push_back(p.info.record.gossip);
  for (const auto& [name, r] : rumours_) out.push_back(r.gossip);
  return out;
}

std::vector<membership_event> membership::take_events() {
  std::vector<membership_event> out;
  out.swap(events_);
  return out;
}

void membership::rebuild_view() {
  member_view v;
  if (!self_.leaving) v.members.push_back(self_);
  for (const auto& [name, p] : peers_)
    if ((p.info.status == member_status::alive || p.info.status == member_status::suspect) &&
        !p.info.record.leaving)
      v.members.push_back(p.info.record);
  std::sort(v.members.begin(), v.members.end(),
            [](const member_record& a, const member_record& b) { return a.name < b.name; });
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const auto& m : v.members) {
    h = mix(h, m.name);
    h = mix(h, m.incarnation);
    for (const auto& c : m.capabilities) h = mix(h, c);
  }
  v.epoch = h;
  view_ = std::move(v);
}

}  // namespace mesh::discovery
