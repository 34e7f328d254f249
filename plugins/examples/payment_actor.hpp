// Module `PaymentActor` (capability `payment`): one account; the actor id is the account id.
//
//   init_arg {"balance": N}                                   opening balance >= 0 (default 0)
//   call {"action": "charge", "amount": N, "request_id": R}   takes N from the balance
//   call {"action": "credit", "amount": N, "request_id": R}   adds N to the balance
//   call {"action": "balance"}                                replies {"balance": b}
//   call {"action": "crash"}                                  fails the actor
//
// `amount` must be a positive integer and `request_id` a string of 1..128 bytes; charging more
// than the balance is rejected ("insufficient funds") and changes nothing.
//
// Charges and credits are idempotent per request_id: the first request replies
// {"balance": b, "applied": true, "duplicate": false}; a repeat of the same request_id replies
// the balance the original produced with {"applied": false, "duplicate": true} and does not touch
// the balance again. Reusing a request_id for a different action or amount is rejected.
//
// Bounds: the account remembers the last 10000 applied request ids (oldest forgotten first), so
// a retry arriving after 10000 newer requests is applied again. Rejected requests are not
// remembered (a retry after a credit may succeed). The memory lives in the activation only: a
// new activation (after idle deactivation, a crash or a rebalance) starts from its init_arg and
// remembers nothing; a real service would persist balance and ids before replying.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mesh/sdk.hpp>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mesh::examples {

/// A bank account with idempotent charges and credits.
class payment_actor {
 public:
  /// Handlers only compute in memory: the host may run them on its request thread.
  static constexpr bool nonblocking = true;

  /// Applied request ids remembered for duplicate detection.
  static constexpr size_t max_remembered_requests = 10'000;
  static constexpr size_t max_request_id_bytes = 128;

  explicit payment_actor(const sdk::context& ctx);

  void call(const sdk::value& msg, sdk::writer& reply);

 private:
  /// What an applied request did, kept to answer its duplicates.
  struct applied_request {
    bool charge;
    int64_t amount;
    int64_t balance_after;
  };

  void transfer(bool charge, const sdk::value& msg, sdk::writer& reply);
  void remember(std::string_view request_id, const applied_request& result);

  int64_t balance_;
  std::unordered_map<std::string, applied_request> applied_;
  /// Insertion order of `applied_`, oldest first, for eviction.
  std::deque<std::string> order_;
};

}  // namespace mesh::examples
