#pragma once

// Profiles on their way out, the same for the CLI (`tessera profiles`) and the API
// (/api/v1/profiles): one writer per format, one filter, one way of paging.
//
// Privacy: rows name customers by pseudonym only.

#include <array>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/analytics/profiles.h"
#include "tessera/analytics/segments.h"
#include "tessera/analytics/snapshots.h"
#include "tessera/common/text.h"

namespace tessera::analytics {

// Writes profiles of one profile set or snapshot as CSV rows or JSON objects: uuid, segment
// key and name (in the chosen language), scores, order_count, clv, avg_order_value,
// recency_days, first_order, last_order, currency, and with predictions p_alive,
// expected_purchases and predicted_clv (rounded: 4 decimals, the currency's minor unit for
// CLV; empty or null for a customer without). Borrows the set or snapshot.
class ProfileRows {
 public:
  ProfileRows(const ProfileSet& set, const SegmentRules& rules, Lang lang);
  ProfileRows(const Snapshot& snapshot, Lang lang);

  // The CSV header line in `dialect`, with its CRLF (and the dialect's byte order mark).
  std::string CsvHeader(const CsvDialect& dialect = kRfc4180Csv) const;
  // Appends `p`'s CSV row in `dialect` (text cells formula-safe), with its CRLF.
  void AppendCsv(const Profile& p, std::string* out, const CsvDialect& dialect = kRfc4180Csv) const;
  nlohmann::ordered_json Json(const Profile& p) const;

 private:
  struct SegmentName {
    std::string key, name;
  };
  const std::vector<privacy::Uuid>& uuids_;
  std::string currency_;
  int exponent_ = 2;
  bool predictions_ = false;
  std::vector<SegmentName> segments_;  // by segment index
};

// Which profiles a listing shows: one segment or all, and a range of each score.
struct ProfileFilter {
  std::optional<int> segment;                    // index in rule order; none: every segment
  std::array<int, 2> r{1, 5}, f{1, 5}, m{1, 5};  // inclusive score ranges

  bool Matches(const Profile& p) const {
    return (!segment || p.segment == *segment) && p.r_score >= r[0] && p.r_score <= r[1] &&
           p.f_score >= f[0] && p.f_score <= f[1] && p.m_score >= m[0] && p.m_score <= m[1];
  }
};

// The index of a snapshot's segment named by its key or its name in either language
// (case-insensitive). Errors: kInvalidArgument naming the known keys.
StatusOr<int> FindSegment(const Snapshot& snapshot, std::string_view key_or_name);

// The order of a listing (`?sort=` of /api/v1/profiles): by a field of the profile rows,
// ascending ("clv") or descending ("-clv"); customers with equal values stay in customer order
// (the store's, the same on every request), so pages never repeat or skip one.
struct ProfileSort {
  enum class Field : uint8_t {
    kCustomer,  // no sort: customer order
    kRScore,
    kFScore,
    kMScore,
    kOrderCount,
    kClv,
    kAvgOrderValue,
    kRecencyDays,
    kFirstOrder,
    kLastOrder,
  };
  Field field = Field::kCustomer;
  bool descending = false;

  // Errors: kInvalidArgument naming every value allowed.
  static StatusOr<ProfileSort> Parse(std::string_view text);
  // Every value Parse takes, ascending then descending per field.
  static std::vector<std::string> Allowed();
  std::string ToString() const;  // "" for customer order
};

// The positions of `profiles` in `sort`'s order.
std::vector<uint32_t> SortProfiles(const std::vector<Profile>& profiles, const ProfileSort& sort);

// One page of the profiles that match `filter`, from place `start` of the listing: of
// `profiles` in `order` (positions, from SortProfiles), or in their own order when `order` is
// empty.
struct ProfilePage {
  uint64_t total = 0;             // matching profiles in all
  std::vector<size_t> positions;  // at most `limit`, in order
  std::optional<size_t> next;     // the place in the listing where the next page starts
};
ProfilePage PageProfiles(const std::vector<Profile>& profiles, const ProfileFilter& filter,
                         size_t start, size_t limit, std::span<const uint32_t> order = {});

}  // namespace tessera::analytics
