#include "tessera/audience/index.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "audience/test_support.h"
#include "tessera/analytics/profiles.h"
#include "tessera/audience/expression.h"
#include "tessera/common/money.h"
#include "tessera/io/order_reader.h"

namespace tessera::audience {
namespace {

TEST(BitSlicedIndex, ComparisonsMatchAScanForEveryOperator) {
  std::mt19937_64 rng(11);
  std::vector<uint32_t> ids;
  std::vector<int64_t> values;
  for (uint32_t i = 0; i < 5000; ++i) {
    if (rng() % 4 == 0) continue;  // customers without a value
    ids.push_back(i);
    values.push_back(static_cast<int64_t>(rng() % 2001) - 700);
  }
  const BitSlicedIndex bsi = BitSlicedIndex::Build(ids, values);
  const CompareOp ops[] = {CompareOp::kLt, CompareOp::kLe, CompareOp::kGt,
                           CompareOp::kGe, CompareOp::kEq, CompareOp::kNe};
  for (int64_t c : {-100000, -701, -700, -699, -1, 0, 1, 5, 640, 1299, 1300, 1301, 99999}) {
    for (CompareOp op : ops) {
      std::vector<uint32_t> expected;
      for (size_t i = 0; i < ids.size(); ++i) {
        const int64_t v = values[i];
        const bool m = op == CompareOp::kLt   ? v < c
                       : op == CompareOp::kLe ? v <= c
                       : op == CompareOp::kGt ? v > c
                       : op == CompareOp::kGe ? v >= c
                       : op == CompareOp::kEq ? v == c
                                              : v != c;
        if (m) expected.push_back(ids[i]);
      }
      EXPECT_EQ(bsi.Compare(op, c).ToVector(), expected)
          << "op " << static_cast<int>(op) << " " << c;
    }
  }
}

TEST(BitSlicedIndex, ConstantValuesAndEmptyIndexes) {
  const std::vector<uint32_t> ids{1, 2, 3};
  const std::vector<int64_t> same{7, 7, 7};
  const auto bsi = BitSlicedIndex::Build(ids, same);
  EXPECT_EQ(bsi.Compare(CompareOp::kEq, 7).Cardinality(), 3u);
  EXPECT_EQ(bsi.Compare(CompareOp::kGt, 7).Cardinality(), 0u);
  EXPECT_EQ(bsi.Compare(CompareOp::kLe, 7).Cardinality(), 3u);
  const auto empty = BitSlicedIndex::Build({}, {});
  EXPECT_EQ(empty.Compare(CompareOp::kNe, 0).Cardinality(), 0u);
  EXPECT_EQ(empty.Compare(CompareOp::kLt, 100).Cardinality(), 0u);
}

// Every customer's features by a plain scan of the store, without the index: the reference
// the index's answers are checked against.
struct Reference {
  int64_t as_of = 0, start = 0;
  int exponent = 2;
  uint32_t customers = 0;
  std::vector<std::string> segment_keys;
  std::vector<std::optional<analytics::Profile>> profile;
  std::vector<std::map<std::string, std::set<std::string>>> attributes;
  struct Item {
    std::string path;
    int64_t day;
    int64_t spend;
  };
  std::vector<std::vector<Item>> items;
  std::set<std::string> paths;  // every category and every prefix of one
};

Reference Scan(store::Store& store) {
  Reference ref;
  auto snapshots = analytics::SnapshotStore(store).List();
  EXPECT_TRUE(snapshots.ok() && !snapshots->empty());
  const analytics::SnapshotInfo info = snapshots->back();
  ref.as_of = info.as_of_day;
  ref.start = info.start_day;
  ref.exponent = info.currency_exponent;
  ref.customers = *store.CustomerCount();
  auto segments = analytics::SnapshotStore(store).Segments(info.id);
  EXPECT_TRUE(segments.ok());
  for (const auto& s : *segments) ref.segment_keys.push_back(s.key);
  ref.profile.resize(ref.customers);
  ref.attributes.resize(ref.customers);
  ref.items.resize(ref.customers);
  EXPECT_TRUE(
      analytics::SnapshotStore(store)
          .ScanProfiles(info.id, [&](const analytics::Profile& p) { ref.profile[p.customer] = p; })
          .ok());
  std::map<std::pair<int, uint32_t>, std::string> dict;
  EXPECT_TRUE(store
                  .ScanDictionaries([&](store::DictKind k, uint32_t id, const std::string& v) {
                    dict[{static_cast<int>(k), id}] = v;
                  })
                  .ok());
  auto value = [&](store::DictKind k, uint32_t id) { return dict[{static_cast<int>(k), id}]; };
  EXPECT_TRUE(store
                  .ScanOrders([&](const store::OrderColumns& c) {
                    for (size_t i = 0; i < c.size(); ++i) {
                      const int64_t day = DayOfTimestamp(c.ordered_at[i]);
                      if (c.customer[i] == store::kAnonymousCustomer || c.kind[i] != 0 ||
                          day < ref.start || day > ref.as_of ||
                          value(store::DictKind::kCurrency, c.currency[i]) != info.currency) {
                        continue;
                      }
                      auto& a = ref.attributes[c.customer[i]];
                      if (c.store[i]) a["store"].insert(value(store::DictKind::kStore, c.store[i]));
                      if (c.region[i])
                        a["region"].insert(value(store::DictKind::kRegion, c.region[i]));
                      if (c.channel[i])
                        a["channel"].insert(value(store::DictKind::kChannel, c.channel[i]));
                      for (uint32_t k = c.item_offsets[i]; k < c.item_offsets[i + 1]; ++k) {
                        if (c.item_category[k] == 0) continue;
                        const std::string path =
                            value(store::DictKind::kCategory, c.item_category[k]);
                        ref.items[c.customer[i]].push_back(
                            {path, day, MicroToMinor(c.item_amount_micro[k], ref.exponent)});
                        for (size_t at = path.find(" > "); at != std::string::npos;
                             at = path.find(" > ", at + 1)) {
                          ref.paths.insert(path.substr(0, at));
                        }
                        ref.paths.insert(path);
                      }
                    }
                    return OkStatus();
                  })
                  .ok());
  return ref;
}

// Random expressions, each as text and as a predicate over one customer of the reference.
class RandomExpressions {
 public:
  RandomExpressions(const Reference& ref, uint64_t seed) : ref_(ref), rng_(seed) {
    for (uint32_t c = 0; c < ref.customers; ++c) {
      if (ref.profile[c]) profiled_.push_back(c);
      for (const auto& [name, values] : ref.attributes[c]) {
        for (const auto& v : values) attribute_values_[name].insert(v);
      }
    }
    paths_.assign(ref.paths.begin(), ref.paths.end());
  }

  using Pred = std::function<bool(uint32_t)>;

  std::pair<std::string, Pred> Make(int depth) {
    const int pick = static_cast<int>(rng_() % (depth > 0 ? 8 : 4));
    if (pick >= 4) {
      auto [a, pa] = Make(depth - 1);
      if (pick == 7) return {"not (" + a + ")", [pa](uint32_t c) { return !pa(c); }};
      auto [b, pb] = Make(depth - 1);
      if (pick == 4 || pick == 5) {
        return {"(" + a + ") and (" + b + ")", [pa, pb](uint32_t c) { return pa(c) && pb(c); }};
      }
      return {"(" + a + ") or (" + b + ")", [pa, pb](uint32_t c) { return pa(c) || pb(c); }};
    }
    switch (pick) {
      case 0:
        return Segment();
      case 1:
        return Number();
      case 2:
        return Attribute();
      default:
        return Bought();
    }
  }

 private:
  const analytics::Profile* P(uint32_t c) const {
    return ref_.profile[c] ? &*ref_.profile[c] : nullptr;
  }

  std::pair<std::string, Pred> Segment() {
    std::set<uint16_t> chosen;
    std::string text = "segment in [";
    const int n = 1 + static_cast<int>(rng_() % 3);
    for (int i = 0; i < n; ++i) {
      const auto s = static_cast<uint16_t>(rng_() % ref_.segment_keys.size());
      chosen.insert(s);
      text += (i ? ", '" : "'") + ref_.segment_keys[s] + "'";
    }
    text += "]";
    return {text, [this, chosen](uint32_t c) { return P(c) && chosen.count(P(c)->segment) > 0; }};
  }

  std::pair<std::string, Pred> Number() {
    static const char* kFields[] = {"clv",     "orders",  "recency_days", "aov",
                                    "r_score", "f_score", "m_score"};
    static const char* kOps[] = {"<", "<=", ">", ">=", "=", "!="};
    const int f = static_cast<int>(rng_() % 7);
    const int op = static_cast<int>(rng_() % 6);
    auto value_of = [f](const analytics::Profile& p) -> int64_t {
      switch (f) {
        case 0:
          return p.revenue_minor;
        case 1:
          return p.order_count;
        case 2:
          return p.recency_days;
        case 3:
          return p.revenue_minor / static_cast<int64_t>(p.order_count);
        case 4:
          return p.r_score;
        case 5:
          return p.f_score;
        default:
          return p.m_score;
      }
    };
    const bool money = f == 0 || f == 3;
    // A constant near a real value: equal to one, or between two.
    const auto& sample = *ref_.profile[profiled_[rng_() % profiled_.size()]];
    int64_t v = value_of(sample) + static_cast<int64_t>(rng_() % 3) - 1;
    int decimals = 0;
    std::string text;
    if (money) {
      decimals = static_cast<int>(rng_() % 4);  // 0..3 decimals, so some fall between cents
      if (decimals == 3) v = v * 10 + static_cast<int64_t>(rng_() % 10);
      if (decimals == 0) v /= 100;
      if (decimals == 1) v /= 10;
      const int64_t abs = v < 0 ? -v : v;
      std::string digits = std::to_string(abs);
      if (decimals > 0) {
        while (static_cast<int>(digits.size()) <= decimals) digits.insert(0, "0");
        digits.insert(digits.size() - decimals, ".");
      }
      text = (v < 0 ? "-" : "") + digits;
    } else {
      text = std::to_string(v);
    }
    const int64_t scale = money ? 100 : 1;
    const std::string expr = std::string(kFields[f]) + " " + kOps[op] + " " + text;
    __int128 pow = 1;
    for (int i = 0; i < decimals; ++i) pow *= 10;
    return {expr, [this, value_of, scale, v, pow, op](uint32_t c) {
              if (!P(c)) return false;
              // value / scale op v / 10^decimals, in integers.
              const __int128 lhs = static_cast<__int128>(value_of(*P(c))) * pow;
              const __int128 rhs = static_cast<__int128>(v) * scale;
              switch (op) {
                case 0:
                  return lhs < rhs;
                case 1:
                  return lhs <= rhs;
                case 2:
                  return lhs > rhs;
                case 3:
                  return lhs >= rhs;
                case 4:
                  return lhs == rhs;
                default:
                  return lhs != rhs;
              }
            }};
  }

  std::pair<std::string, Pred> Attribute() {
    auto it = attribute_values_.begin();
    std::advance(it, rng_() % attribute_values_.size());
    const std::string name = it->first;
    std::vector<std::string> values(it->second.begin(), it->second.end());
    std::set<std::string> chosen;
    const int n = 1 + static_cast<int>(rng_() % 2);
    for (int i = 0; i < n; ++i) chosen.insert(values[rng_() % values.size()]);
    const bool negate = rng_() % 3 == 0;
    std::string text = name + (negate ? " not in [" : " in [");
    bool first = true;
    for (const auto& v : chosen) {
      text += (first ? "'" : ", '") + v + "'";
      first = false;
    }
    text += "]";
    return {text, [this, name, chosen, negate](uint32_t c) {
              auto a = ref_.attributes[c].find(name);
              if (a == ref_.attributes[c].end()) return false;
              bool any = false;
              for (const auto& v : a->second) any = any || chosen.count(v) > 0;
              return negate ? !any : any;
            }};
  }

  std::pair<std::string, Pred> Bought() {
    const std::string path = paths_[rng_() % paths_.size()];
    static const char* kWithin[] = {"", "30d", "90d", "45d", "3m", "365d"};
    const int w = static_cast<int>(rng_() % 6);
    const int min_count = static_cast<int>(rng_() % 4);  // 0: not given
    const int spend = static_cast<int>(rng_() % 3);
    static const char* kSpend[] = {"", "10", "49.99"};
    static const int64_t kSpendMinor[] = {0, 1000, 4999};
    std::string text = "bought('" + path + "'";
    int64_t from = ref_.start;
    if (w > 0) {
      text += std::string(", within=") + kWithin[w];
      const std::string d = kWithin[w];
      const int n = std::stoi(d);
      from = d.back() == 'm' ? Duration::Months(n).StartDay(ref_.as_of) : ref_.as_of - n + 1;
      from = std::max(from, ref_.start);
    }
    if (min_count > 0) text += ", min_count=" + std::to_string(min_count);
    if (spend > 0) text += std::string(", min_spend=") + kSpend[spend];
    text += ")";
    const int64_t min_spend = kSpendMinor[spend];
    return {text, [this, path, from, min_count, min_spend](uint32_t c) {
              std::set<int64_t> days;
              int64_t total = 0;
              for (const auto& item : ref_.items[c]) {
                const bool under = item.path == path || item.path.starts_with(path + " > ");
                if (!under || item.day < from) continue;
                days.insert(item.day);
                total += item.spend;
              }
              return !days.empty() && days.size() >= static_cast<size_t>(std::max(1, min_count)) &&
                     total >= min_spend;
            }};
  }

  const Reference& ref_;
  std::mt19937_64 rng_;
  std::vector<uint32_t> profiled_;
  std::map<std::string, std::set<std::string>> attribute_values_;
  std::vector<std::string> paths_;
};

class IndexOnGeneratedData : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::filesystem::path(testing::TestDir("IndexOnGeneratedData"));
    const std::string csv = testing::GenerateCsv(*dir_, 1500, 40, 5);
    store_ = testing::LoadAndSnapshot((*dir_ / "store.db").string(), csv).release();
    auto index = BuildIndex(*store_);
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    index_ = new AudienceIndex(std::move(*index));
    ref_ = new Reference(Scan(*store_));
  }
  static void TearDownTestSuite() {
    delete index_;
    delete ref_;
    delete store_;
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  static std::filesystem::path* dir_;
  static store::Store* store_;
  static AudienceIndex* index_;
  static Reference* ref_;
};
std::filesystem::path* IndexOnGeneratedData::dir_ = nullptr;
store::Store* IndexOnGeneratedData::store_ = nullptr;
AudienceIndex* IndexOnGeneratedData::index_ = nullptr;
Reference* IndexOnGeneratedData::ref_ = nullptr;

TEST_F(IndexOnGeneratedData, HoldsTheHierarchyStoresRegionsAndChannels) {
  EXPECT_EQ(index_->info().customers, ref_->customers);
  EXPECT_GT(index_->profiled().Cardinality(), 500u);
  EXPECT_EQ(index_->categories().size(), ref_->paths.size());
  for (const char* name : {"store", "region", "channel"}) {
    EXPECT_TRUE(index_->attributes().count(name)) << name;
  }
  size_t roots = 0;
  for (const auto& c : index_->categories()) roots += c.parent < 0 ? 1 : 0;
  EXPECT_GE(roots, 2u);
  EXPECT_LT(roots, index_->categories().size());
}

TEST_F(IndexOnGeneratedData, RandomExpressionsCountWhatAScanOfTheProfilesAndOrdersFinds) {
  RandomExpressions gen(*ref_, 2024);
  uint64_t nonempty = 0;
  for (int i = 0; i < 600; ++i) {
    auto [text, pred] = gen.Make(i % 4);
    auto e = Expression::Parse(text, *index_);
    ASSERT_TRUE(e.ok()) << text << ": " << e.status().message();
    std::vector<uint32_t> expected;
    for (uint32_t c = 0; c < ref_->customers; ++c) {
      if (pred(c)) expected.push_back(c);
    }
    ASSERT_EQ(e->Evaluate().ToVector(), expected) << text;
    nonempty += expected.empty() || expected.size() == ref_->customers ? 0 : 1;
  }
  EXPECT_GT(nonempty, 300u);  // the expressions are not trivially empty or everything
}

TEST_F(IndexOnGeneratedData, SerializesAndReadsBackTheSameAnswers) {
  const std::string bytes = index_->Serialize();
  auto back = AudienceIndex::Deserialize(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->info().stamp, index_->info().stamp);
  RandomExpressions gen(*ref_, 99);
  for (int i = 0; i < 100; ++i) {
    auto [text, pred] = gen.Make(2);
    auto a = Expression::Parse(text, *index_);
    auto b = Expression::Parse(text, *back);
    ASSERT_TRUE(a.ok() && b.ok()) << text;
    EXPECT_TRUE(a->Evaluate() == b->Evaluate()) << text;
  }
  // Damaged files are refused, never read out of bounds.
  for (size_t cut : {size_t{0}, size_t{10}, bytes.size() / 3, bytes.size() - 1}) {
    EXPECT_EQ(AudienceIndex::Deserialize(bytes.substr(0, cut)).status().code(),
              StatusCode::kDataLoss);
  }
  std::string flipped = bytes;
  flipped[flipped.size() / 2] ^= 0x5a;
  auto damaged = AudienceIndex::Deserialize(flipped);  // may parse; must not crash
  (void)damaged;
}

TEST_F(IndexOnGeneratedData, IsRebuiltWhenTheStoreChanges) {
  const std::string path = (*dir_ / "store.db.audience").string();
  bool rebuilt = false;
  auto first = LoadOrBuildIndex(*store_, path, &rebuilt);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(rebuilt);
  auto second = LoadOrBuildIndex(*store_, path, &rebuilt);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(rebuilt);
  // A new snapshot makes the kept index stale.
  analytics::ProfileOptions po;
  po.as_of_day = testing::kEndDay - 30;
  po.window = Duration::Months(6);
  auto rules = analytics::SegmentRules::Default();
  auto set = analytics::ComputeSegmentedProfiles(*store_, po, *rules);
  ASSERT_TRUE(set.ok());
  ASSERT_TRUE(analytics::SaveSnapshot(*store_, *set, *rules).ok());
  auto third = LoadOrBuildIndex(*store_, path, &rebuilt);
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(rebuilt);
  EXPECT_EQ(third->info().window, "6m");
  EXPECT_EQ(third->info().as_of_day, testing::kEndDay - 30);
}

TEST_F(IndexOnGeneratedData, ItsFileHeaderTellsWhatItWasBuiltFrom) {
  const std::string path = (*dir_ / "header.audience").string();
  EXPECT_EQ(ReadIndexInfo(path).status().code(), StatusCode::kNotFound);
  bool rebuilt = false;
  auto index = LoadOrBuildIndex(*store_, path, &rebuilt);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  auto info = ReadIndexInfo(path);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->stamp, index->info().stamp);
  EXPECT_EQ(info->snapshot_id, index->info().snapshot_id);
  EXPECT_EQ(info->window, index->info().window);
  EXPECT_EQ(info->customers, index->info().customers);
  std::ofstream(path, std::ios::trunc) << "not an index";
  EXPECT_EQ(ReadIndexInfo(path).status().code(), StatusCode::kDataLoss);
}

TEST(BuildIndex, WithoutASnapshotSaysHowToMakeOne) {
  const auto dir = testing::TestDir();
  auto store = store::Store::Open((dir / "empty.db").string(), true);
  ASSERT_TRUE(store.ok());
  auto index = BuildIndex(**store);
  EXPECT_EQ(index.status().code(), StatusCode::kNotFound);
  EXPECT_NE(index.status().message().find("tessera snapshots create"), std::string::npos);
}

}  // namespace
}  // namespace tessera::audience

namespace tessera::audience {
namespace {

TEST_F(IndexOnGeneratedData, BoughtOverCandidatesEqualsBoughtIntersectedWithThem) {
  std::mt19937_64 rng(5);
  for (uint32_t node = 0; node < index_->categories().size(); ++node) {
    for (size_t size : {size_t{1}, size_t{7}, size_t{300}}) {
      std::vector<uint32_t> ids;
      for (size_t k = 0; k < size; ++k) ids.push_back(rng() % index_->info().customers);
      const Bitmap candidates = Bitmap::Of(ids);
      for (uint32_t min_count : {1u, 2u}) {
        const int64_t from = index_->info().as_of_day - 200;
        const Bitmap all = index_->Bought(node, from, min_count, 500);
        EXPECT_TRUE(index_->Bought(node, from, min_count, 500, &candidates) == all.And(candidates))
            << index_->categories()[node].path;
      }
    }
  }
}

}  // namespace
}  // namespace tessera::audience
