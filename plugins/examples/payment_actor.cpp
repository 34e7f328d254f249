#include "payment_actor.hpp"

#include <stdexcept>

namespace mesh::examples {

payment_actor::payment_actor(const sdk::context& ctx)
    : balance_(ctx.init_arg()["balance"].as_int(0)) {
  if (balance_ < 0) throw sdk::rejected("\"balance\" must not be negative");
}

void payment_actor::call(const sdk::value& msg, sdk::writer& reply) {
  const std::string_view action = msg["action"].as_string();
  if (action == "charge") {
    transfer(true, msg, reply);
  } else if (action == "credit") {
    transfer(false, msg, reply);
  } else if (action == "balance") {
    reply.map().kv("balance", balance_);
  } else if (action == "crash") {
    throw std::runtime_error("payment actor crashed on request");
  } else {
    throw sdk::rejected("unknown action \"" + std::string(action) +
                        "\" (expected charge, credit, balance or crash)");
  }
}

void payment_actor::transfer(bool charge, const sdk::value& msg, sdk::writer& reply) {
  const sdk::value amount_field = msg["amount"];
  if (!amount_field.is_number()) throw sdk::rejected("\"amount\" must be a positive integer");
  const int64_t amount = amount_field.as_int();
  if (amount <= 0) throw sdk::rejected("\"amount\" must be a positive integer");

  const sdk::value id_field = msg["request_id"];
  if (!id_field.is_string()) throw sdk::rejected("\"request_id\" must be a string");
  const std::string_view request_id = id_field.as_string();
  if (request_id.empty() || request_id.size() > max_request_id_bytes)
    throw sdk::rejected("\"request_id\" must be 1.." + std::to_string(max_request_id_bytes) +
                        " bytes");

  if (auto it = applied_.find(std::string(request_id)); it != applied_.end()) {
    const applied_request& original = it->second;
    if (original.charge != charge || original.amount != amount)
      throw sdk::rejected("request_id \"" + std::string(request_id) +
                          "\" was already used for a different request");
    reply.map().kv("balance", original.balance_after).kv("applied", false).kv("duplicate", true);
    return;
  }

  int64_t balance = 0;
  if (charge) {
    if (amount > balance_) throw sdk::rejected("insufficient funds");
    balance = balance_ - amount;
  } else if (__builtin_add_overflow(balance_, amount, &balance)) {
    throw sdk::rejected("credit would overflow the balance");
  }
  remember(request_id, applied_request{charge, amount, balance});
  balance_ = balance;
  reply.map().kv("balance", balance_).kv("applied", true).kv("duplicate", false);
}

void payment_actor::remember(std::string_view request_id, const applied_request& result) {
  if (order_.size() == max_remembered_requests) {
    applied_.erase(order_.front());
    order_.pop_front();
  }
  order_.emplace_back(request_id);
  applied_.emplace(order_.back(), result);
}

}  // namespace mesh::examples
