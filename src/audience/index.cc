#include "tessera/audience/index.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "audience/serial.h"
#include "tessera/audience/audience_store.h"
#include "tessera/common/civil_time.h"
#include "tessera/common/duration.h"
#include "tessera/common/money.h"
#include "tessera/common/text.h"
#include "tessera/io/order_reader.h"

namespace tessera::audience {
namespace {

constexpr std::string_view kMagic = "TESSERA-AUDIENCE-INDEX-2\n";
constexpr size_t kPostingBytes = 4 + 2 + 4;  // customer, day offset, spend

// "Food >Dairy>  Cheese" -> {"Food", "Dairy", "Cheese"}; empty parts dropped.
std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('>', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = TrimWhitespace(path.substr(start, end - start));
    if (!part.empty()) parts.emplace_back(part);
    start = end + 1;
  }
  return parts;
}

std::string JoinPath(const std::vector<std::string>& parts, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) s += " > ";
    s += parts[i];
  }
  return s;
}

// The first day of a standard window (clipped to the index's window).
int64_t StandardFromDay(const IndexInfo& info, int32_t days) {
  if (days == 0) return info.start_day;
  return std::max(info.start_day, Duration::Days(days).StartDay(info.as_of_day));
}

int64_t Pow10(int n) {
  int64_t v = 1;
  while (n-- > 0) v *= 10;
  return v;
}

}  // namespace

int AudienceIndex::FindSegment(std::string_view name) const {
  for (size_t i = 0; i < segments_.size(); ++i) {
    const SegmentInfo& s = segments_[i];
    if (EqualsIgnoreCase(s.key, name) || EqualsIgnoreCase(s.name_en, name) ||
        EqualsIgnoreCase(s.name_de, name)) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

const NumericField* AudienceIndex::FindNumber(std::string_view name) const {
  for (const auto& f : numbers_) {
    if (EqualsIgnoreCase(f.name, name)) return &f;
  }
  return nullptr;
}

std::vector<uint32_t> AudienceIndex::FindCategory(std::string_view text) const {
  const std::vector<std::string> parts = SplitPath(text);
  const std::string wanted = AsciiLower(JoinPath(parts, parts.size()));
  if (auto it = category_lookup_.find("p:" + wanted); it != category_lookup_.end()) {
    return it->second;
  }
  if (auto it = category_lookup_.find("n:" + wanted); it != category_lookup_.end()) {
    return it->second;
  }
  return {};
}

void AudienceIndex::IndexNames() {
  attribute_any_.clear();
  for (const auto& [name, values] : attributes_) {
    Bitmap any;
    for (const auto& [value, b] : values) any.OrInPlace(b);
    any.Optimize();
    attribute_any_.emplace(name, std::move(any));
  }
  category_lookup_.clear();
  for (uint32_t i = 0; i < nodes_.size(); ++i) {
    category_lookup_["p:" + AsciiLower(nodes_[i].path)].push_back(i);
    category_lookup_["n:" + AsciiLower(nodes_[i].name)].push_back(i);
  }
}

const Bitmap* AudienceIndex::StandardBought(uint32_t node, int64_t from_day, uint32_t min_count,
                                            int64_t min_spend_minor) const {
  if (min_count > 1 || min_spend_minor > 0) return nullptr;
  from_day = std::max(from_day, info_.start_day);
  for (size_t w = 0; w < kStandardWindowDays.size(); ++w) {
    if (StandardFromDay(info_, kStandardWindowDays[w]) == from_day) return &node_windows_[node][w];
  }
  return nullptr;
}

Bitmap AudienceIndex::Bought(uint32_t node, int64_t from_day, uint32_t min_count,
                             int64_t min_spend_minor, const Bitmap* within) const {
  if (const Bitmap* b = StandardBought(node, from_day, min_count, min_spend_minor)) {
    return within != nullptr ? within->And(*b) : b->Copy();
  }
  from_day = std::max(from_day, info_.start_day);
  std::vector<uint32_t> subtree{node};
  for (size_t i = 0; i < subtree.size(); ++i) {
    for (uint32_t c : nodes_[subtree[i]].children) subtree.push_back(c);
  }
  struct Entry {
    uint32_t customer;
    int32_t day;
    int64_t spend;
  };
  std::vector<Entry> entries;
  const int64_t from_offset = from_day - info_.start_day;
  size_t postings = 0;
  for (uint32_t n : subtree) postings += postings_[n].size();
  // Few candidates: look each one up in every node's postings (sorted by customer) instead of
  // reading them all.
  const bool by_candidate =
      within != nullptr && within->Cardinality() * subtree.size() * 16 < postings;
  const std::vector<uint32_t> candidates =
      by_candidate ? within->ToVector() : std::vector<uint32_t>();
  for (uint32_t n : subtree) {
    const CategoryPostings& p = postings_[n];
    auto take = [&](size_t i) {
      if (p.day[i] >= from_offset) entries.push_back({p.customer[i], p.day[i], p.spend_minor[i]});
    };
    if (by_candidate) {
      for (uint32_t c : candidates) {
        auto it = std::lower_bound(p.customer.begin(), p.customer.end(), c);
        for (size_t i = it - p.customer.begin(); i < p.size() && p.customer[i] == c; ++i) take(i);
      }
      continue;
    }
    for (size_t i = 0; i < p.size(); ++i) {
      if (within == nullptr || within->Contains(p.customer[i])) take(i);
    }
  }
  // One node's postings are already in (customer, day) order; several must be merged.
  if (subtree.size() > 1) {
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return a.customer != b.customer ? a.customer < b.customer : a.day < b.day;
    });
  }
  std::vector<uint32_t> members;
  for (size_t i = 0; i < entries.size();) {
    const uint32_t c = entries[i].customer;
    uint32_t days = 0;
    int64_t spend = 0;
    int32_t last_day = INT32_MIN;
    for (; i < entries.size() && entries[i].customer == c; ++i) {
      if (entries[i].day != last_day) ++days;
      last_day = entries[i].day;
      spend += entries[i].spend;
    }
    if (days >= std::max<uint32_t>(min_count, 1) && spend >= min_spend_minor) members.push_back(c);
  }
  return Bitmap::Of(members);
}

size_t AudienceIndex::SizeInBytes() const {
  size_t n = universe_.SizeInBytes() + profiled_.SizeInBytes();
  for (const auto& b : segment_bitmaps_) n += b.SizeInBytes();
  for (const auto& f : numbers_) n += f.values.SizeInBytes();
  for (const auto& p : postings_) n += p.size() * kPostingBytes;
  for (const auto& w : node_windows_) {
    for (const auto& b : w) n += b.SizeInBytes();
  }
  for (const auto& [name, values] : attributes_) {
    for (const auto& [value, b] : values) n += b.SizeInBytes();
  }
  return n;
}

// ---- building

IndexBuilder::IndexBuilder(IndexInfo info, std::vector<SegmentInfo> segments)
    : info_(std::move(info)), segments_(std::move(segments)) {}

void IndexBuilder::AddProfile(const analytics::Profile& p) { profiles_.push_back(p); }

uint32_t IndexBuilder::NodeFor(std::string_view path) {
  const std::vector<std::string> parts = SplitPath(path);
  int32_t parent = -1;
  for (size_t depth = 1; depth <= parts.size(); ++depth) {
    const std::string full = JoinPath(parts, depth);
    const std::string key = AsciiLower(full);
    auto it = node_by_path_.find(key);
    if (it == node_by_path_.end()) {
      const auto id = static_cast<uint32_t>(nodes_.size());
      nodes_.push_back(CategoryNode{parts[depth - 1], full, parent, {}});
      purchases_.emplace_back();
      if (parent >= 0) nodes_[parent].children.push_back(id);
      it = node_by_path_.emplace(key, id).first;
    }
    parent = static_cast<int32_t>(it->second);
  }
  return static_cast<uint32_t>(parent);
}

void IndexBuilder::AddCategory(uint32_t id, std::string_view path) {
  if (node_of_category_.size() <= id) node_of_category_.resize(id + 1, -1);
  node_of_category_[id] = SplitPath(path).empty() ? -1 : static_cast<int32_t>(NodeFor(path));
}

void IndexBuilder::AddPurchase(uint32_t customer, int64_t day, uint32_t category_id,
                               int64_t spend_minor) {
  if (day < info_.start_day || day > info_.as_of_day) return;
  if (category_id >= node_of_category_.size() || node_of_category_[category_id] < 0) return;
  purchases_[node_of_category_[category_id]].push_back(
      {customer, static_cast<int32_t>(day), spend_minor});
}

void IndexBuilder::AddAttribute(std::string_view name, std::string_view value, uint32_t customer) {
  attributes_[AsciiLower(name)][std::string(value)].push_back(customer);
}

AudienceIndex IndexBuilder::Finish() {
  AudienceIndex x;
  x.info_ = info_;
  x.universe_ = Bitmap::Range(info_.customers);
  x.universe_.Optimize();
  x.segments_ = segments_;
  {
    std::vector<std::vector<uint32_t>> members(segments_.size());
    std::vector<uint32_t> ids;
    ids.reserve(profiles_.size());
    for (const auto& p : profiles_) {
      ids.push_back(p.customer);
      if (p.segment < members.size()) members[p.segment].push_back(p.customer);
    }
    x.profiled_ = Bitmap::Of(ids);
    x.profiled_.Optimize();
    for (auto& m : members) {
      x.segment_bitmaps_.push_back(Bitmap::Of(m));
      x.segment_bitmaps_.back().Optimize();
    }
  }
  const int64_t money = Pow10(info_.currency_exponent);
  auto add_number = [&](std::string name, int64_t scale, auto value_of, bool optional) {
    std::vector<uint32_t> ids;
    std::vector<int64_t> values;
    ids.reserve(profiles_.size());
    values.reserve(profiles_.size());
    for (const auto& p : profiles_) {
      const std::optional<int64_t> v = value_of(p);
      if (!v) continue;
      ids.push_back(p.customer);
      values.push_back(*v);
    }
    if (optional && ids.empty()) return;
    x.numbers_.push_back(NumericField{std::move(name), scale, BitSlicedIndex::Build(ids, values)});
  };
  using P = analytics::Profile;
  add_number(
      "clv", money, [](const P& p) -> std::optional<int64_t> { return p.revenue_minor; }, false);
  add_number(
      "orders", 1, [](const P& p) -> std::optional<int64_t> { return p.order_count; }, false);
  add_number(
      "recency_days", 1, [](const P& p) -> std::optional<int64_t> { return p.recency_days; },
      false);
  add_number(
      "aov", money,
      [](const P& p) -> std::optional<int64_t> {
        return p.order_count == 0 ? 0 : p.revenue_minor / static_cast<int64_t>(p.order_count);
      },
      false);
  add_number(
      "r_score", 1, [](const P& p) -> std::optional<int64_t> { return p.r_score; }, false);
  add_number(
      "f_score", 1, [](const P& p) -> std::optional<int64_t> { return p.f_score; }, false);
  add_number(
      "m_score", 1, [](const P& p) -> std::optional<int64_t> { return p.m_score; }, false);
  if (info_.has_predictions) {
    auto scaled = [](double v, int64_t scale) -> std::optional<int64_t> {
      if (!std::isfinite(v)) return std::nullopt;
      return static_cast<int64_t>(std::llround(v * static_cast<double>(scale)));
    };
    add_number(
        "predicted_clv", money, [&](const P& p) { return scaled(p.predicted_clv, money); }, true);
    add_number(
        "p_alive", 10000, [&](const P& p) { return scaled(p.p_alive, 10000); }, true);
  }
  profiles_.clear();
  profiles_.shrink_to_fit();

  // Categories: postings per node (own purchases), then the window bitmaps bottom-up. Nodes
  // are created parents first, so walking them backwards visits children before parents.
  const size_t n = nodes_.size();
  x.nodes_ = std::move(nodes_);
  x.postings_.resize(n);
  x.node_windows_.resize(n);
  std::array<int64_t, kStandardWindowDays.size()> from{};
  for (size_t w = 0; w < from.size(); ++w) from[w] = StandardFromDay(info_, kStandardWindowDays[w]);
  for (size_t i = n; i-- > 0;) {
    auto& raw = purchases_[i];
    std::sort(raw.begin(), raw.end(), [](const Purchase& a, const Purchase& b) {
      return a.customer != b.customer ? a.customer < b.customer : a.day < b.day;
    });
    CategoryPostings& p = x.postings_[i];
    std::array<std::vector<uint32_t>, kStandardWindowDays.size()> members;
    for (size_t j = 0; j < raw.size();) {
      const Purchase first = raw[j];
      int64_t spend = 0;
      for (; j < raw.size() && raw[j].customer == first.customer && raw[j].day == first.day; ++j) {
        spend += raw[j].spend;
      }
      p.customer.push_back(first.customer);
      p.day.push_back(static_cast<uint16_t>(first.day - info_.start_day));
      p.spend_minor.push_back(
          static_cast<int32_t>(std::clamp<int64_t>(spend, INT32_MIN, INT32_MAX)));
      for (size_t w = 0; w < from.size(); ++w) {
        auto& m = members[w];
        if (first.day >= from[w] && (m.empty() || m.back() != first.customer)) {
          m.push_back(first.customer);
        }
      }
    }
    raw = {};
    for (size_t w = 0; w < from.size(); ++w) {
      Bitmap b = Bitmap::Of(members[w]);
      for (uint32_t c : x.nodes_[i].children) b.OrInPlace(x.node_windows_[c][w]);
      b.Optimize();
      x.node_windows_[i][w] = std::move(b);
    }
  }
  for (auto& [name, values] : attributes_) {
    for (auto& [value, ids] : values) {
      Bitmap b = Bitmap::Of(ids);
      b.Optimize();
      x.attributes_[name].emplace(value, std::move(b));
      ids = {};
    }
  }
  x.IndexNames();
  return x;
}

// ---- serialization

namespace {

// The header of the file form: what IndexInfo holds, in the order Serialize writes it.
Status ReadInfo(internal::Reader& r, IndexInfo* info) {
  int64_t exponent = 0;
  uint64_t customers = 0, predictions = 0;
  TESSERA_RETURN_IF_ERROR(r.I64(&info->snapshot_id));
  TESSERA_RETURN_IF_ERROR(r.I64(&info->as_of_day));
  TESSERA_RETURN_IF_ERROR(r.I64(&info->start_day));
  TESSERA_RETURN_IF_ERROR(r.String(&info->window));
  TESSERA_RETURN_IF_ERROR(r.String(&info->currency));
  TESSERA_RETURN_IF_ERROR(r.I64(&exponent));
  TESSERA_RETURN_IF_ERROR(r.U64(&customers));
  TESSERA_RETURN_IF_ERROR(r.U64(&predictions));
  TESSERA_RETURN_IF_ERROR(r.String(&info->stamp));
  if (exponent < 0 || exponent > 6 || customers > UINT32_MAX) return internal::Reader::Truncated();
  info->currency_exponent = static_cast<int>(exponent);
  info->customers = static_cast<uint32_t>(customers);
  info->has_predictions = predictions != 0;
  return OkStatus();
}

}  // namespace

StatusOr<IndexInfo> ReadIndexInfo(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("no audience index at {}", path);
  // The header is a few numbers and three short texts.
  std::string head(64 * 1024, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(in.gcount()));
  if (std::string_view(head).substr(0, kMagic.size()) != kMagic) {
    return DataLossError("not an audience index (or one of another version)");
  }
  internal::Reader r(std::string_view(head).substr(kMagic.size()));
  IndexInfo info;
  TESSERA_RETURN_IF_ERROR(ReadInfo(r, &info));
  return info;
}

std::string AudienceIndex::Serialize() const {
  using internal::PutI64;
  using internal::PutString;
  using internal::PutU64;
  std::string out(kMagic);
  PutI64(&out, info_.snapshot_id);
  PutI64(&out, info_.as_of_day);
  PutI64(&out, info_.start_day);
  PutString(&out, info_.window);
  PutString(&out, info_.currency);
  PutI64(&out, info_.currency_exponent);
  PutU64(&out, info_.customers);
  PutU64(&out, info_.has_predictions ? 1 : 0);
  PutString(&out, info_.stamp);
  universe_.AppendSerialized(&out);
  profiled_.AppendSerialized(&out);
  PutU64(&out, segments_.size());
  for (size_t i = 0; i < segments_.size(); ++i) {
    PutString(&out, segments_[i].key);
    PutString(&out, segments_[i].name_en);
    PutString(&out, segments_[i].name_de);
    segment_bitmaps_[i].AppendSerialized(&out);
  }
  PutU64(&out, numbers_.size());
  for (const auto& f : numbers_) {
    PutString(&out, f.name);
    PutI64(&out, f.scale);
    f.values.AppendSerialized(&out);
  }
  PutU64(&out, nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i) {
    PutString(&out, nodes_[i].name);
    PutString(&out, nodes_[i].path);
    PutI64(&out, nodes_[i].parent);
    const CategoryPostings& p = postings_[i];
    PutU64(&out, p.size());
    const size_t at = out.size();
    out.resize(at + p.size() * kPostingBytes);
    char* d = out.data() + at;
    if (p.size() > 0) {  // an empty vector's data() may be null, which memcpy must not get
      std::memcpy(d, p.customer.data(), p.size() * 4);
      std::memcpy(d + p.size() * 4, p.day.data(), p.size() * 2);
      std::memcpy(d + p.size() * 6, p.spend_minor.data(), p.size() * 4);
    }
    for (const auto& b : node_windows_[i]) b.AppendSerialized(&out);
  }
  PutU64(&out, attributes_.size());
  for (const auto& [name, values] : attributes_) {
    PutString(&out, name);
    PutU64(&out, values.size());
    for (const auto& [value, b] : values) {
      PutString(&out, value);
      b.AppendSerialized(&out);
    }
  }
  return out;
}

StatusOr<AudienceIndex> AudienceIndex::Deserialize(std::string_view bytes) {
  if (bytes.substr(0, kMagic.size()) != kMagic) {
    return DataLossError("not an audience index (or one of another version)");
  }
  internal::Reader r(bytes.substr(kMagic.size()));
  AudienceIndex x;
  auto bitmap = [&](Bitmap* b) -> Status {
    size_t used = 0;
    TESSERA_ASSIGN_OR_RETURN(*b, Bitmap::Deserialize(r.Rest(), &used));
    r.Skip(used);
    return OkStatus();
  };
  uint64_t n = 0;
  TESSERA_RETURN_IF_ERROR(ReadInfo(r, &x.info_));
  TESSERA_RETURN_IF_ERROR(bitmap(&x.universe_));
  TESSERA_RETURN_IF_ERROR(bitmap(&x.profiled_));
  TESSERA_RETURN_IF_ERROR(r.Count(&n, 32));
  for (uint64_t i = 0; i < n; ++i) {
    SegmentInfo s;
    TESSERA_RETURN_IF_ERROR(r.String(&s.key));
    TESSERA_RETURN_IF_ERROR(r.String(&s.name_en));
    TESSERA_RETURN_IF_ERROR(r.String(&s.name_de));
    x.segments_.push_back(std::move(s));
    x.segment_bitmaps_.emplace_back();
    TESSERA_RETURN_IF_ERROR(bitmap(&x.segment_bitmaps_.back()));
  }
  TESSERA_RETURN_IF_ERROR(r.Count(&n, 16));
  for (uint64_t i = 0; i < n; ++i) {
    NumericField f;
    TESSERA_RETURN_IF_ERROR(r.String(&f.name));
    TESSERA_RETURN_IF_ERROR(r.I64(&f.scale));
    size_t used = 0;
    TESSERA_ASSIGN_OR_RETURN(f.values, BitSlicedIndex::Deserialize(r.Rest(), &used));
    r.Skip(used);
    x.numbers_.push_back(std::move(f));
  }
  TESSERA_RETURN_IF_ERROR(r.Count(&n, 24));
  x.nodes_.resize(n);
  x.postings_.resize(n);
  x.node_windows_.resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    CategoryNode& node = x.nodes_[i];
    int64_t parent = 0;
    TESSERA_RETURN_IF_ERROR(r.String(&node.name));
    TESSERA_RETURN_IF_ERROR(r.String(&node.path));
    TESSERA_RETURN_IF_ERROR(r.I64(&parent));
    if (parent < -1 || parent >= static_cast<int64_t>(i)) return internal::Reader::Truncated();
    node.parent = static_cast<int32_t>(parent);
    if (parent >= 0) x.nodes_[parent].children.push_back(static_cast<uint32_t>(i));
    uint64_t size = 0;
    TESSERA_RETURN_IF_ERROR(r.Count(&size, kPostingBytes));
    CategoryPostings& p = x.postings_[i];
    const char* d = r.Rest().data();
    p.customer.resize(size);
    p.day.resize(size);
    p.spend_minor.resize(size);
    if (size > 0) {
      std::memcpy(p.customer.data(), d, size * 4);
      std::memcpy(p.day.data(), d + size * 4, size * 2);
      std::memcpy(p.spend_minor.data(), d + size * 6, size * 4);
    }
    r.Skip(size * kPostingBytes);
    for (auto& b : x.node_windows_[i]) TESSERA_RETURN_IF_ERROR(bitmap(&b));
  }
  TESSERA_RETURN_IF_ERROR(r.Count(&n, 16));
  for (uint64_t i = 0; i < n; ++i) {
    std::string name;
    uint64_t values = 0;
    TESSERA_RETURN_IF_ERROR(r.String(&name));
    TESSERA_RETURN_IF_ERROR(r.Count(&values, 16));
    auto& map = x.attributes_[name];
    for (uint64_t j = 0; j < values; ++j) {
      std::string value;
      TESSERA_RETURN_IF_ERROR(r.String(&value));
      Bitmap b;
      TESSERA_RETURN_IF_ERROR(bitmap(&b));
      map.emplace(std::move(value), std::move(b));
    }
  }
  if (!r.AtEnd()) return internal::Reader::Truncated();
  x.IndexNames();
  return x;
}

// ---- from the store

StatusOr<std::string> IndexStamp(store::Store& store) {
  TESSERA_ASSIGN_OR_RETURN(auto snapshots, analytics::SnapshotStore(store).List());
  TESSERA_ASSIGN_OR_RETURN(auto loads, store.Loads());
  TESSERA_ASSIGN_OR_RETURN(const store::StoreStats stats, store.Stats());
  TESSERA_ASSIGN_OR_RETURN(auto attributes,
                           audience::AudienceStore(store).Setting("attributes.generation"));
  return fmt::format("snapshot={};load={};customers={};orders={};attributes={}",
                     snapshots.empty() ? 0 : snapshots.back().id,
                     loads.empty() ? 0 : loads.back().load_id, stats.customers, stats.orders,
                     attributes.value_or("0"));
}

StatusOr<AudienceIndex> BuildIndex(store::Store& store) {
  TESSERA_ASSIGN_OR_RETURN(std::string stamp, IndexStamp(store));
  TESSERA_ASSIGN_OR_RETURN(auto snapshots, analytics::SnapshotStore(store).List());
  if (snapshots.empty()) {
    return NotFoundError(
        "{} holds no snapshot yet; audiences are built on the newest one: make it with "
        "`tessera snapshots create --window 24m`",
        store.Describe());
  }
  const analytics::SnapshotInfo& s = snapshots.back();
  IndexInfo info;
  info.snapshot_id = s.id;
  info.as_of_day = s.as_of_day;
  info.start_day = s.start_day;
  info.window = s.window;
  info.currency = s.currency;
  info.currency_exponent = s.currency_exponent;
  info.has_predictions = !s.prediction_models.empty();
  info.stamp = std::move(stamp);
  TESSERA_ASSIGN_OR_RETURN(info.customers, store.CustomerCount());
  TESSERA_ASSIGN_OR_RETURN(auto segments, analytics::SnapshotStore(store).Segments(s.id));
  std::vector<SegmentInfo> segment_infos;
  for (const auto& g : segments) segment_infos.push_back({g.key, g.name_en, g.name_de});
  const int exponent = s.currency_exponent;
  IndexBuilder builder(std::move(info), std::move(segment_infos));
  TESSERA_RETURN_IF_ERROR(analytics::SnapshotStore(store).ScanProfiles(
      s.id, [&](const analytics::Profile& p) { builder.AddProfile(p); }));

  std::array<std::vector<std::string>, store::kDictKindCount> dict;
  TESSERA_RETURN_IF_ERROR(
      store.ScanDictionaries([&](store::DictKind kind, uint32_t id, const std::string& value) {
        auto& d = dict[static_cast<size_t>(kind)];
        if (d.size() <= id) d.resize(id + 1);
        d[id] = value;
        if (kind == store::DictKind::kCategory) builder.AddCategory(id, value);
      }));
  const auto& currencies = dict[static_cast<size_t>(store::DictKind::kCurrency)];
  const auto currency_it = std::find(currencies.begin(), currencies.end(), s.currency);
  const uint32_t currency_id = static_cast<uint32_t>(currency_it - currencies.begin());
  struct AttributeColumn {
    const char* name;
    store::DictKind kind;
    std::vector<uint32_t> store::OrderColumns::*column;
  };
  const AttributeColumn columns[] = {
      {"store", store::DictKind::kStore, &store::OrderColumns::store},
      {"region", store::DictKind::kRegion, &store::OrderColumns::region},
      {"channel", store::DictKind::kChannel, &store::OrderColumns::channel},
  };
  // Order tokens are not needed: only the other column groups are read.
  const uint32_t fields = store::kOrderCore | store::kOrderAttributes | store::kOrderItems;
  TESSERA_RETURN_IF_ERROR(store.ScanOrderFields(fields, [&](const store::OrderColumns& c) {
    for (size_t i = 0; i < c.size(); ++i) {
      if (c.customer[i] == store::kAnonymousCustomer ||
          c.kind[i] != static_cast<uint8_t>(io::OrderKind::kPurchase) ||
          c.currency[i] != currency_id) {
        continue;
      }
      const int64_t day = DayOfTimestamp(c.ordered_at[i]);
      if (day < s.start_day || day > s.as_of_day) continue;
      for (const auto& col : columns) {
        const uint32_t v = (c.*col.column)[i];
        const auto& values = dict[static_cast<size_t>(col.kind)];
        if (v != 0 && v < values.size()) builder.AddAttribute(col.name, values[v], c.customer[i]);
      }
      for (uint32_t k = c.item_offsets[i]; k < c.item_offsets[i + 1]; ++k) {
        if (c.item_category[k] == 0) continue;
        builder.AddPurchase(c.customer[i], day, c.item_category[k],
                            MicroToMinor(c.item_amount_micro[k], exponent));
      }
    }
    return OkStatus();
  }));
  // Attributes attached from other sources; a name clashing with a built-in one is refused
  // on import.
  TESSERA_RETURN_IF_ERROR(
      audience::AudienceStore(store).ScanAttributes([&](const audience::CustomerAttribute& a) {
        builder.AddAttribute(a.name, a.value, a.customer);
      }));
  return builder.Finish();
}

std::string DefaultIndexPath(const std::string& location, const std::string& description) {
  const bool postgres = location.starts_with("postgres://") ||
                        location.starts_with("postgresql://") ||
                        location.find('=') != std::string::npos;
  if (!postgres) {
    const std::string path =
        location.starts_with("sqlite:") ? location.substr(std::string("sqlite:").size()) : location;
    return path + ".audience";
  }
  std::string dir;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0') {
    dir = std::string(x) + "/tessera";
  } else if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') {
    dir = std::string(h) + "/.cache/tessera";
  } else {
    dir = ".";
  }
  // The description names host, port and database, never a password.
  return fmt::format("{}/audience-{:016x}.idx", dir, std::hash<std::string>{}(description));
}

StatusOr<AudienceIndex> LoadOrBuildIndex(store::Store& store, const std::string& path,
                                         bool* rebuilt) {
  *rebuilt = false;
  TESSERA_ASSIGN_OR_RETURN(const std::string stamp, IndexStamp(store));
  // Only the header is read of a stale file (the whole one may take gigabytes).
  if (auto info = ReadIndexInfo(path); info.ok() && info->stamp == stamp) {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      std::ostringstream buffer;
      buffer << in.rdbuf();
      auto index = AudienceIndex::Deserialize(buffer.str());
      if (index.ok() && index->info().stamp == stamp) return index;
    }
  }
  TESSERA_ASSIGN_OR_RETURN(AudienceIndex index, BuildIndex(store));
  *rebuilt = true;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  // Per process, so that two commands rebuilding at once never write one file.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    const std::string bytes = index.Serialize();
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) return UnavailableError("cannot write the audience index {}", path);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return UnavailableError("cannot write the audience index {}", path);
  }
  return index;
}

}  // namespace tessera::audience
