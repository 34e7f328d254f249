// Module `PaymentActor` (capability `payment`): one account; the actor id is the account id.
//
//   init_arg {"balance": N}                                   opening balance >= 0 (default 0)
//   call {"action": "charge", "amount": N, "request_id": R}   takes N from the balance
//   call {"action": "credit", "amount": N, "request_id": R}   adds N to the balance
//   call {"action": "transfer", "to": B, "amount": N, "request_id": R}
//                                                             moves N to account B
//   call {"action": "receive", "from": A, "amount": N, "request_id": R}
//                                                             the credit side of A's transfer R
//   call {"action": "balance"}                                replies {"balance": b}
//   call {"action": "crash"}                                  fails the actor
//
// `amount` must be a positive integer, `request_id` a string of 1..128 bytes and an account id
// (`to`, `from`) 1..128 bytes; charging or transferring more than the balance is rejected
// ("insufficient funds") and changes nothing.
//
// Charges, credits and transfers are idempotent per request_id: the first request replies
// {"balance": b, "applied": true, "duplicate": false}; a repeat of the same request_id replies
// the balance the original produced with {"applied": false, "duplicate": true} and does not touch
// the balance again. Reusing a request_id for a different action, amount or target is rejected.
//
// A transfer debits this account at once, then calls PaymentActor B (on whichever host owns it)
// with {"action": "receive", "from": this id, "amount": N, "request_id": R}, and answers the
// transfer call later (defer), when B's answer is back:
//   - B applied it (or had already: a duplicate): the transfer is done and remembered as above;
//     its `balance` is this account's balance right after the debit.
//   - B says it did not apply it (B refused it, e.g. its balance would overflow; the module or
//     capability is not there; the host would not send it): the debit is refunded (the
//     compensation) and the transfer is rejected with B's error code and message. R is then
//     forgotten, as every rejected request is, so a retry may try again.
//   - The outcome is unknown (a timeout, a crash of B's activation, an unknown error): B may
//     have applied it or may still apply it, so refunding could create money. The amount stays
//     held and the account re-sends the same receive every second until B answers either way;
//     B applies each (A, R) at most once, so re-sending is safe. The caller's deadline passes
//     meanwhile (it gets `timeout`, which says "may have run"); a retry of the transfer with the
//     same request_id waits for the outcome and gets it.
// A retry that arrives while the transfer is in progress waits for the same outcome (the first
// caller gets "applied": true, the retry "duplicate": true). Held amounts are in neither
// account's `balance` until they settle. `receive` applies each (from, request_id) pair once and
// replies {"applied": bool, "duplicate": bool}; it is a credit, checked like one.
//
// Bounds: the account remembers the last 10000 applied requests of its own and the last 10000
// receipts (oldest forgotten first), so a retry arriving after 10000 newer requests is applied
// again; at most 1000 transfers may be in progress, each with at most 16 callers waiting. Rejected
// requests are not remembered (a retry after a credit may succeed). The memory lives in the
// activation only: a new activation (after idle deactivation, a crash or a rebalance) starts from
// its init_arg, remembers nothing and has nothing held; a real service would persist balance,
// ids and transfers in progress before replying.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mesh/sdk.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "request_memory.hpp"

namespace mesh::examples {

/// A bank account with idempotent charges, credits and transfers.
class payment_actor {
 public:
  /// Handlers only compute in memory: the host may run them on its request thread.
  static constexpr bool nonblocking = true;

  /// Applied request ids (and, separately, transfer receipts) remembered for duplicates.
  static constexpr size_t max_remembered_requests = 10'000;
  static constexpr size_t max_request_id_bytes = 128;
  static constexpr size_t max_account_bytes = 128;
  /// Transfers waiting for the other account's answer.
  static constexpr size_t max_pending_transfers = 1000;
  /// Callers of one transfer waiting for its outcome (the first and its retries).
  static constexpr size_t max_waiters_per_transfer = 16;
  /// How long an account waits before re-sending a receive whose outcome is unknown.
  static constexpr std::chrono::milliseconds resend_after{1000};

  explicit payment_actor(const sdk::context& ctx);

  void call(const sdk::value& msg, sdk::writer& reply);

 private:
  enum class kind { charge, credit, transfer };

  /// What an applied request did, kept to answer its duplicates.
  struct applied_request {
    kind what;
    int64_t amount;
    int64_t balance_after;
    std::string to;  ///< transfers only
  };

  /// A transfer debited here whose receive has not been answered for sure yet.
  struct pending_transfer {
    std::string to;
    int64_t amount;
    int64_t balance_after;
    /// The callers to answer: the first one (true), then its retries.
    std::vector<std::pair<sdk::deferred, bool>> waiters;
    bool in_flight = false;  ///< a receive call is out
  };

  void apply(kind what, const sdk::value& msg, sdk::writer& reply);
  void transfer(const sdk::value& msg, sdk::writer& reply);
  void receive(const sdk::value& msg, sdk::writer& reply);
  void send_receive(const std::string& request_id);
  void on_receive_answer(const std::string& request_id, const sdk::result& r);

  sdk::host host_;
  std::string account_;
  int64_t balance_;
  /// Sum of the transfers debited here and not settled: kept so that a refund cannot overflow
  /// (credits keep balance_ + held_ within int64).
  int64_t held_ = 0;
  request_memory<std::string, applied_request> applied_{max_remembered_requests};
  /// Receipts of other accounts' transfers, by (from, request_id): their own namespace, so a
  /// transfer's id never collides with this account's ids.
  request_memory<std::pair<std::string, std::string>, int64_t> received_{max_remembered_requests};
  std::map<std::string, pending_transfer> pending_;
};

}  // namespace mesh::examples
