#include "payment_actor.hpp"

#include <limits>
#include <stdexcept>

#include "field_checks.hpp"

namespace mesh::examples {

namespace {

/// What a transfer sends the other account.
struct receive_request {
  std::string action = "receive";
  std::string from;
  int64_t amount = 0;
  std::string request_id;
  MSGPACK_DEFINE_MAP(action, from, amount, request_id)
};

/// A transfer's answer (and a charge's or credit's).
struct outcome {
  int64_t balance = 0;
  bool applied = false;
  bool duplicate = false;
  MSGPACK_DEFINE_MAP(balance, applied, duplicate)
};

int64_t positive_amount(const sdk::value& v) {
  if (!v.is_number()) throw sdk::rejected("\"amount\" must be a positive integer");
  const int64_t amount = v.as_int();
  if (amount <= 0) throw sdk::rejected("\"amount\" must be a positive integer");
  return amount;
}

std::string_view request_id_of(const sdk::value& msg) {
  const sdk::value v = msg["request_id"];
  if (!v.is_string()) throw sdk::rejected("\"request_id\" must be a string");
  const std::string_view id = v.as_string();
  if (id.empty() || id.size() > payment_actor::max_request_id_bytes)
    throw sdk::rejected("\"request_id\" must be 1.." +
                        std::to_string(payment_actor::max_request_id_bytes) + " bytes");
  return id;
}

/// Whether error `code` of a receive call says for sure that the receive was not applied and
/// will not be: the callee refused it, or it was never run. Anything else (a timeout, a crash
/// of the callee, a code this example does not know) leaves the outcome unknown.
bool certainly_not_applied(std::string_view code) {
  for (std::string_view c :
       {"rejected", "activation_failed", "unknown_capability", "capability_not_served",
        "unknown_module", "capability_mismatch", "chain_too_long", "overloaded", "shutting_down",
        "wrong_owner", "bad_request", "too_large", "refused"})
    if (code == c) return true;
  return false;
}

}  // namespace

payment_actor::payment_actor(const sdk::context& ctx)
    : host_(ctx.host()), account_(ctx.id()), balance_(ctx.init_arg()["balance"].as_int(0)) {
  if (balance_ < 0) throw sdk::rejected("\"balance\" must not be negative");
}

void payment_actor::call(const sdk::value& msg, sdk::writer& reply) {
  const std::string_view action = msg["action"].as_string();
  if (action == "charge") {
    apply(kind::charge, msg, reply);
  } else if (action == "credit") {
    apply(kind::credit, msg, reply);
  } else if (action == "transfer") {
    transfer(msg, reply);
  } else if (action == "receive") {
    receive(msg, reply);
  } else if (action == "balance") {
    reply.map().kv("balance", balance_);
  } else if (action == "crash") {
    throw std::runtime_error("payment actor crashed on request");
  } else {
    throw sdk::rejected("unknown action \"" + std::string(action) +
                        "\" (expected charge, credit, transfer, receive, balance or crash)");
  }
}

void payment_actor::apply(kind what, const sdk::value& msg, sdk::writer& reply) {
  const int64_t amount = positive_amount(msg["amount"]);
  const std::string request_id(request_id_of(msg));

  if (const applied_request* original = applied_.find(request_id)) {
    if (original->what != what || original->amount != amount)
      throw sdk::rejected("request_id \"" + request_id +
                          "\" was already used for a different request");
    reply.value(outcome{original->balance_after, false, true});
    return;
  }
  if (pending_.contains(request_id))
    throw sdk::rejected("request_id \"" + request_id + "\" is a transfer in progress");

  int64_t balance = 0;
  if (what == kind::charge) {
    if (amount > balance_) throw sdk::rejected("insufficient funds");
    balance = balance_ - amount;
  } else {
    // Held money counts: a transfer refunded later must fit as well.
    int64_t with_held = 0;
    if (__builtin_add_overflow(balance_ + held_, amount, &with_held))
      throw sdk::rejected("credit would overflow the balance");
    balance = balance_ + amount;
  }
  applied_.remember(request_id, applied_request{what, amount, balance, {}});
  balance_ = balance;
  reply.value(outcome{balance_, true, false});
}

void payment_actor::transfer(const sdk::value& msg, sdk::writer& reply) {
  const std::string to(bounded_string(msg["to"], "to", max_account_bytes));
  const int64_t amount = positive_amount(msg["amount"]);
  const std::string request_id(request_id_of(msg));
  if (to == account_) throw sdk::rejected("a transfer needs another account than this one");

  if (const applied_request* original = applied_.find(request_id)) {
    if (original->what != kind::transfer || original->amount != amount || original->to != to)
      throw sdk::rejected("request_id \"" + request_id +
                          "\" was already used for a different request");
    reply.value(outcome{original->balance_after, false, true});
    return;
  }
  if (auto it = pending_.find(request_id); it != pending_.end()) {
    // A retry of a transfer in progress: it waits for the same outcome, and nudges a receive
    // whose outcome is unknown to be sent again now rather than at the next re-send.
    pending_transfer& p = it->second;
    if (p.amount != amount || p.to != to)
      throw sdk::rejected("request_id \"" + request_id +
                          "\" was already used for a different request");
    if (p.waiters.size() == max_waiters_per_transfer)
      throw sdk::rejected("transfer \"" + request_id + "\" has " +
                          std::to_string(max_waiters_per_transfer) +
                          " callers waiting already; retry later");
    p.waiters.emplace_back(host_.defer(), false);
    if (!p.in_flight) send_receive(request_id);
    return;
  }
  if (pending_.size() == max_pending_transfers)
    throw sdk::rejected("this account has " + std::to_string(max_pending_transfers) +
                        " transfers in progress, the most it takes");
  if (amount > balance_) throw sdk::rejected("insufficient funds");

  // Validated: debit now (the money is held until the other side answers), answer later.
  const sdk::deferred later = host_.defer();
  balance_ -= amount;
  held_ += amount;
  pending_transfer& p = pending_[request_id];
  p.to = to;
  p.amount = amount;
  p.balance_after = balance_;
  p.waiters.emplace_back(later, true);
  send_receive(request_id);
}

void payment_actor::send_receive(const std::string& request_id) {
  pending_transfer& p = pending_.at(request_id);
  p.in_flight = true;
  try {
    // Timeout 0: inside a transfer call, what is left of its deadline (so the caller hears the
    // outcome, or `timeout` when it is unknown); from a re-send's timer, the host's default.
    host_.call("payment", "PaymentActor", p.to,
               receive_request{"receive", account_, p.amount, request_id},
               [this, request_id](const sdk::result& r) { on_receive_answer(request_id, r); });
  } catch (const sdk::rejected& e) {
    // The host would not send it: certainly not applied.
    on_receive_answer(request_id, sdk::result(false, sdk::value{}, "refused", e.what()));
  }
}

void payment_actor::on_receive_answer(const std::string& request_id, const sdk::result& r) {
  auto it = pending_.find(request_id);
  if (it == pending_.end()) return;  // settled by an earlier answer
  pending_transfer& p = it->second;
  p.in_flight = false;
  if (r.ok()) {
    held_ -= p.amount;
    applied_.remember(request_id, applied_request{kind::transfer, p.amount, p.balance_after, p.to});
    for (const auto& [caller, first] : p.waiters)
      host_.reply(caller, outcome{p.balance_after, first, !first});
    pending_.erase(it);
  } else if (certainly_not_applied(r.error_code())) {
    // Compensation: the money comes back; held_ + balance_ never exceeds int64, so no overflow.
    held_ -= p.amount;
    balance_ += p.amount;
    const std::string message = "transfer \"" + request_id + "\" to \"" + p.to +
                                "\" failed and was refunded: " + std::string(r.error_code()) +
                                ": " + std::string(r.error_message());
    for (const auto& [caller, first] : p.waiters) host_.reject(caller, message);
    pending_.erase(it);
  } else {
    // In doubt: keep the money held and ask again (the other side applies R at most once).
    // The timer dies with this activation, as the held money does.
    host_.after(resend_after, [this, request_id] {
      auto again = pending_.find(request_id);
      if (again != pending_.end() && !again->second.in_flight) send_receive(request_id);
    });
  }
}

void payment_actor::receive(const sdk::value& msg, sdk::writer& reply) {
  std::string from(bounded_string(msg["from"], "from", max_account_bytes));
  const int64_t amount = positive_amount(msg["amount"]);
  std::string request_id(request_id_of(msg));
  auto key = std::make_pair(std::move(from), std::move(request_id));
  if (const int64_t* original = received_.find(key)) {
    if (*original != amount)
      throw sdk::rejected("transfer \"" + key.second + "\" from \"" + key.first +
                          "\" was already received with another amount");
    reply.map().kv("applied", false).kv("duplicate", true);
    return;
  }
  int64_t with_held = 0;
  if (__builtin_add_overflow(balance_ + held_, amount, &with_held))
    throw sdk::rejected("credit would overflow the balance");
  received_.remember(std::move(key), amount);
  balance_ += amount;
  reply.map().kv("applied", true).kv("duplicate", false);
}

}  // namespace mesh::examples
