#pragma once

// The audience index: every customer's features as compressed bitmaps over the dense customer
// index, so that an audience expression (expression.h) is answered with bitmap operations
// instead of a scan of the store.
//
//  - segment: one bitmap per segment of the snapshot the index was built from;
//  - numbers (clv, orders, recency_days, aov, r/f/m_score, predicted_clv, p_alive): bit-sliced
//    indexes of the values as integers (money in minor units, p_alive in 1/10,000);
//  - categories: the hierarchy from the category paths of the data ("Food > Dairy > Cheese":
//    a node per prefix); per node, purchase postings (customer, day, spend) and, for the
//    standard windows (30, 90, 180, 365 days and the whole window), bitmaps of the customers
//    who bought in the node or below it;
//  - attributes: name -> value -> bitmap; store, region and channel (where a customer bought
//    in the window) and attributes attached later from other sources, keyed by pseudonym.
//
// Customers without a purchase in the snapshot's window are part of the universe (they count
// for shares and `not`), have no segment and no numbers.
//
// Privacy: the index holds dense customer indexes, days, amounts and category/attribute
// values; never a pseudonym or an identifier (exports map indexes to pseudonyms through the
// store).

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tessera/analytics/snapshot_store.h"
#include "tessera/audience/bitmap.h"
#include "tessera/common/status.h"
#include "tessera/store/store.h"

namespace tessera::audience {

struct IndexInfo {
  int64_t snapshot_id = 0;
  int64_t as_of_day = 0, start_day = 0;  // the snapshot's window
  std::string window;                    // "24m"
  std::string currency;
  int currency_exponent = 2;
  uint32_t customers = 0;  // the universe: every customer in the store
  bool has_predictions = false;
  std::string stamp;  // the store state it was built from (see IndexStamp)
};

struct SegmentInfo {
  std::string key, name_en, name_de;
};

// Numbers an expression can compare, with their integer scale (stored = value x scale).
struct NumericField {
  std::string name;
  int64_t scale = 1;
  BitSlicedIndex values;
};

struct CategoryNode {
  std::string name;  // the last part of the path: "Cheese"
  std::string path;  // "Food > Dairy > Cheese"
  int32_t parent = -1;
  std::vector<uint32_t> children;
};

// One category node's own purchases (not its children's): one entry per (customer, day),
// sorted by customer then day; 10 bytes each. Spend in minor units, capped at INT32_MAX per
// customer, day and category (21 million in a two-decimal currency).
struct CategoryPostings {
  std::vector<uint32_t> customer;
  std::vector<uint16_t> day;  // days since the window's start (a window has at most 36,500)
  std::vector<int32_t> spend_minor;
  size_t size() const { return customer.size(); }
};

// The precomputed category windows, in days back from the as-of date (0: the whole window).
inline constexpr std::array<int32_t, 5> kStandardWindowDays = {30, 90, 180, 365, 0};

// Immutable once built; thread-safe for concurrent reads. Movable, not copyable.
class AudienceIndex {
 public:
  AudienceIndex() = default;
  AudienceIndex(AudienceIndex&&) = default;
  AudienceIndex& operator=(AudienceIndex&&) = default;

  const IndexInfo& info() const { return info_; }
  const Bitmap& universe() const { return universe_; }
  const Bitmap& profiled() const { return profiled_; }  // customers with a purchase in the window
  const std::vector<SegmentInfo>& segments() const { return segments_; }
  const Bitmap& segment(size_t i) const { return segment_bitmaps_[i]; }
  // Index of the segment with this key or name (either language, case-insensitive), or -1.
  int FindSegment(std::string_view name) const;

  const std::vector<NumericField>& numbers() const { return numbers_; }
  const NumericField* FindNumber(std::string_view name) const;

  const std::vector<CategoryNode>& categories() const { return nodes_; }
  // Nodes whose path equals `text` (case-insensitive, blanks around '>' ignored), else whose
  // own name does; several when a name occurs under different parents.
  std::vector<uint32_t> FindCategory(std::string_view text) const;

  // Customers who bought in the node or below it on `min_count` days or more since
  // `from_day` (inclusive; at least the window's start), spending at least `min_spend_minor`;
  // only those in *within when it is given (cheaper: other customers' postings are skipped).
  Bitmap Bought(uint32_t node, int64_t from_day, uint32_t min_count, int64_t min_spend_minor,
                const Bitmap* within = nullptr) const;
  // The precomputed bitmap that answers Bought(...) when there is one (a standard window, no
  // thresholds), else null. Valid as long as the index.
  const Bitmap* StandardBought(uint32_t node, int64_t from_day, uint32_t min_count,
                               int64_t min_spend_minor) const;

  // Attribute names (lower case) and their values.
  const std::map<std::string, std::map<std::string, Bitmap>>& attributes() const {
    return attributes_;
  }

  // Customers with any value of the attribute (null for an unknown name).
  const Bitmap* AttributeAny(const std::string& name) const {
    auto it = attribute_any_.find(name);
    return it == attribute_any_.end() ? nullptr : &it->second;
  }

  // Memory the bitmaps and postings take, in bytes (serialized size).
  size_t SizeInBytes() const;

  // A versioned binary form for the index file. Deserialize errors: kDataLoss.
  std::string Serialize() const;
  static StatusOr<AudienceIndex> Deserialize(std::string_view bytes);

 private:
  friend class IndexBuilder;
  IndexInfo info_;
  Bitmap universe_, profiled_;
  std::vector<SegmentInfo> segments_;
  std::vector<Bitmap> segment_bitmaps_;
  std::vector<NumericField> numbers_;
  std::vector<CategoryNode> nodes_;
  std::vector<CategoryPostings> postings_;
  std::vector<std::array<Bitmap, kStandardWindowDays.size()>> node_windows_;
  std::map<std::string, std::map<std::string, Bitmap>> attributes_;
  // Lower-cased "p:" + path and "n:" + name -> nodes, for FindCategory.
  std::unordered_map<std::string, std::vector<uint32_t>> category_lookup_;
  std::map<std::string, Bitmap> attribute_any_;
  void IndexNames();  // fills category_lookup_ and attribute_any_
};

// Collects features and builds an index. Used by BuildIndex and, with synthetic data, by the
// benchmark. Not thread-safe.
class IndexBuilder {
 public:
  IndexBuilder(IndexInfo info, std::vector<SegmentInfo> segments);
  // Profiles in increasing customer order.
  void AddProfile(const analytics::Profile& p);
  // Declares a category (a dictionary entry, `path` split at '>') under an id of the caller's.
  void AddCategory(uint32_t id, std::string_view path);
  // One purchased line (or several lines of a day) in a declared category. Purchases outside
  // the window are ignored.
  void AddPurchase(uint32_t customer, int64_t day, uint32_t category_id, int64_t spend_minor);
  // `name` is compared case-insensitively; `value` kept as given.
  void AddAttribute(std::string_view name, std::string_view value, uint32_t customer);
  AudienceIndex Finish();

 private:
  uint32_t NodeFor(std::string_view path);
  struct Purchase {
    uint32_t customer;
    int32_t day;
    int64_t spend;
  };
  IndexInfo info_;
  std::vector<SegmentInfo> segments_;
  std::vector<analytics::Profile> profiles_;
  std::vector<CategoryNode> nodes_;
  std::map<std::string, uint32_t> node_by_path_;  // lower-cased canonical path
  std::vector<int32_t> node_of_category_;         // caller's id -> node
  std::vector<std::vector<Purchase>> purchases_;  // by node
  std::map<std::string, std::map<std::string, std::vector<uint32_t>>> attributes_;
};

// What the index of `store` must have been built from: the newest snapshot, the loads, the
// customers and the attached attributes. An index with another stamp is stale.
StatusOr<std::string> IndexStamp(store::Store& store);

// Builds the index from the newest snapshot of `store` (profiles, segments, scores,
// predictions) and its orders (categories, store/region/channel in the snapshot's window).
// Errors: kNotFound when the store has no snapshot (the message says how to make one); the
// store's.
StatusOr<AudienceIndex> BuildIndex(store::Store& store);

// Where the index of the store at `location` is kept: beside an SQLite store
// ("store.db.audience"), under $XDG_CACHE_HOME/tessera (else ~/.cache/tessera) for PostgreSQL.
std::string DefaultIndexPath(const std::string& location, const std::string& description);

// The header of the index file at `path` (what it was built from, its stamp), without reading
// the rest. Errors: kNotFound (no file), kDataLoss (not an index of this version).
StatusOr<IndexInfo> ReadIndexInfo(const std::string& path);

// Reads the index at `path` when its stamp matches the store; otherwise builds it, writes it
// to `path` (atomically) and sets *rebuilt. Errors: those of BuildIndex; kUnavailable when the
// file cannot be written.
StatusOr<AudienceIndex> LoadOrBuildIndex(store::Store& store, const std::string& path,
                                         bool* rebuilt);

}  // namespace tessera::audience
