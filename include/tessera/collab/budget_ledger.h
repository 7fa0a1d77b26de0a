#pragma once

// The differential-privacy budget of each partner and grant: how much ε may be spent per
// period (a calendar month in UTC), and what was spent. A run reserves its ε before anything
// is computed, and commits the reservation when its result is released or releases it when
// the run fails without releasing anything.
//
// ε is counted exactly, in integer micro-ε (millionths, uint64): a budget of 1 is 1,000,000.
// Floating point would let many small spends round below what they add up to; integers
// cannot, and the audit log carries the same integers.
//
// Reservations left open (a run that crashed between Reserve and Commit or Release): a
// reservation neither committed nor released within the ledger's reservation timeout (an
// hour by default) expires, and an expired reservation counts as spent for good: Release
// refuses it. The crashed run may have released its result before it died, so returning its
// ε could overdraw the budget; counting it as spent never can. An open reservation counts
// against the budget from Reserve on (it is never free to overdraw), and nothing leaks beyond
// its period: the next period starts with the whole budget. The next Reserve of the same
// partner, grant and period records expired reservations as such ("expired").
//
// A reservation belongs to the period of the `now` given to Reserve, whenever it is
// committed.

#include <cstdint>
#include <string>
#include <string_view>

#include "tessera/collab/epsilon.h"
#include "tessera/common/status.h"
#include "tessera/store/database.h"

namespace tessera::collab {

// The budget period of a Unix time: its calendar month in UTC, "YYYY-MM".
std::string BudgetPeriodOf(int64_t unix_seconds);

struct BudgetReservation {
  int64_t id = 0;
  std::string partner;
  std::string grant_id;
  std::string period;  // "YYYY-MM"
  uint64_t epsilon_micro = 0;
  int64_t reserved_at = 0;  // Unix seconds, Reserve's `now`
};

// A partner's and grant's account for one period.
struct BudgetBalance {
  std::string period;            // "YYYY-MM"
  uint64_t budget_micro = 0;     // as given
  uint64_t spent_micro = 0;      // committed, expired, and open beyond the timeout
  uint64_t reserved_micro = 0;   // open reservations within the timeout
  uint64_t remaining_micro = 0;  // budget - spent - reserved; 0 when the budget was lowered
};

// The budget ledger in a party's store: collab's tables collab_budget_accounts and
// collab_budget_reservations, brought up to date on first use. Borrows the connection; not
// thread-safe (one per thread, as connections are). Ledgers on separate connections, threads
// or processes are safe together: Reserve takes the account's lock (SQLite's write lock; the
// account row's lock on PostgreSQL) for its transaction, so two reservations that do not both
// fit cannot both pass.
class BudgetLedger {
 public:
  static constexpr int64_t kDefaultReservationTimeout = 3600;  // seconds

  // `reservation_timeout`: seconds after which an open reservation expires (at least 1).
  explicit BudgetLedger(store::Database& db,
                        int64_t reservation_timeout = kDefaultReservationTimeout)
      : db_(db), timeout_(reservation_timeout > 0 ? reservation_timeout : 1) {}

  // Reserves `epsilon_micro` of the budget of `partner` (a party id, "tp1:" + 64 hex) under
  // `grant_id` for the period of `now`, whose budget is `period_budget_micro` (the grant's).
  // Errors: kResourceExhausted, with nothing recorded, when spent + reserved + epsilon would exceed
  // the budget (details "period", "budget_micro", "remaining_micro", "requested_micro"; the message
  // says what is left); kInvalidArgument for a malformed id (detail "field"), ε of 0 or above
  // kMaxMicroEpsilon, a budget above kMaxMicroEpsilon, `now` before 1970 or after 9999; the
  // store's errors.
  StatusOr<BudgetReservation> Reserve(std::string_view partner, std::string_view grant_id,
                                      uint64_t epsilon_micro, uint64_t period_budget_micro,
                                      int64_t now);

  // Makes a reservation's ε spent (also an expired one's: it counts as spent already).
  // Committing twice is OK. Errors: kNotFound for an unknown id; kFailedPrecondition for a
  // released reservation; the store's errors.
  Status Commit(int64_t reservation_id);

  // Returns a reservation's ε to the budget (a failed run that released nothing). Releasing
  // twice is OK. Errors: kNotFound for an unknown id; kFailedPrecondition for a committed
  // reservation, or one that expired by `now` (it counts as spent); the store's errors.
  Status Release(int64_t reservation_id, int64_t now);

  // The account of `partner` under `grant_id` for the period of `now`, with a budget of
  // `period_budget_micro`. Reads only. Errors: kInvalidArgument as Reserve's; the store's.
  StatusOr<BudgetBalance> Remaining(std::string_view partner, std::string_view grant_id,
                                    uint64_t period_budget_micro, int64_t now);

  // The tables this class owns, with their migrations.
  static const store::Schema& Schema();

 private:
  store::Database& db_;
  int64_t timeout_;
};

}  // namespace tessera::collab
