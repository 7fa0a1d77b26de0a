#include "tessera/audience/report.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "tessera/audience/expression.h"
#include "tessera/common/civil_time.h"
#include "tessera/common/text.h"

namespace tessera::audience {
namespace {

double Share(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : std::round(10000.0 * static_cast<double>(part) / whole) / 100.0;
}

// Display width of UTF-8 text: lead bytes only ("Winterschläfer").
size_t Width(std::string_view s) {
  size_t w = 0;
  for (unsigned char c : s) w += (c & 0xC0) != 0x80;
  return w;
}
std::string Pad(std::string_view s, size_t width) {
  return std::string(s) + std::string(width > Width(s) ? width - Width(s) : 0, ' ');
}

}  // namespace

CountReport ReportMembers(const AudienceIndex& index, std::string_view expression,
                          const Bitmap& members, analytics::Lang lang) {
  CountReport r;
  r.expression = std::string(expression);
  r.snapshot_id = index.info().snapshot_id;
  r.as_of = FormatIsoDate(index.info().as_of_day);
  r.window = index.info().window;
  r.size = members.Cardinality();
  r.customers = index.info().customers;
  r.share_percent = Share(r.size, r.customers);
  uint64_t with_segment = 0;
  for (size_t i = 0; i < index.segments().size(); ++i) {
    const SegmentInfo& s = index.segments()[i];
    const uint64_t n = members.AndCardinality(index.segment(i));
    with_segment += n;
    r.segments.push_back({s.key, lang == analytics::Lang::kDe ? s.name_de : s.name_en, n});
  }
  r.without_purchases = r.size - with_segment;
  return r;
}

StatusOr<CountReport> CountAudience(const AudienceIndex& index, std::string_view expression,
                                    analytics::Lang lang) {
  TESSERA_ASSIGN_OR_RETURN(Expression e, Expression::Parse(expression, index));
  return ReportMembers(index, expression, e.Evaluate(), lang);
}

std::string CountReport::ToJson() const {
  nlohmann::ordered_json j;
  j["expression"] = expression;
  j["snapshot_id"] = snapshot_id;
  j["as_of"] = as_of;
  j["window"] = window;
  j["size"] = size;
  j["customers"] = customers;
  j["share_percent"] = share_percent;
  auto& segs = j["segments"] = nlohmann::ordered_json::array();
  for (const auto& s : segments) {
    segs.push_back({{"key", s.key},
                    {"segment", s.name},
                    {"customers", s.customers},
                    {"share_percent", Share(s.customers, size)}});
  }
  j["without_purchases"] = without_purchases;
  return j.dump() + "\n";
}

std::string CountReport::ToCsv() const {
  std::string out = "segment_key,segment,customers,share_percent\r\n";
  for (const auto& s : segments) {
    out += fmt::format("{},{},{},{:.2f}\r\n", CsvTextCell(s.key), CsvTextCell(s.name), s.customers,
                       Share(s.customers, size));
  }
  out += fmt::format(",(no purchase in the window),{},{:.2f}\r\n", without_purchases,
                     Share(without_purchases, size));
  out += fmt::format(",(audience),{},{:.2f}\r\n", size, share_percent);
  return out;
}

std::string CountReport::ToTable() const {
  std::string out = fmt::format(
      "Audience: {}\n{} of {} customers ({:.2f}%), snapshot {} (window {} to {})\n\n", expression,
      WithThousands(size), WithThousands(customers), share_percent, snapshot_id, window, as_of);
  size_t width = Width("(no purchase in the window)");
  for (const auto& s : segments) width = std::max(width, Width(s.name));
  out += fmt::format("{}  {:>12}  {:>7}\n", Pad("segment", width), "customers", "share");
  for (const auto& s : segments) {
    out += fmt::format("{}  {:>12}  {:>6.2f}%\n", Pad(s.name, width), WithThousands(s.customers),
                       Share(s.customers, size));
  }
  if (without_purchases > 0) {
    out += fmt::format("{}  {:>12}  {:>6.2f}%\n", Pad("(no purchase in the window)", width),
                       WithThousands(without_purchases), Share(without_purchases, size));
  }
  return out;
}

StatusOr<OverlapReport> OverlapAudiences(const AudienceIndex& index,
                                         std::span<const std::string> expressions) {
  if (expressions.size() < 2) {
    return InvalidArgumentError("overlap needs two expressions or more, got {}",
                                expressions.size());
  }
  OverlapReport r;
  r.customers = index.info().customers;
  std::vector<Bitmap> sets;
  for (size_t i = 0; i < expressions.size(); ++i) {
    auto e = Expression::Parse(expressions[i], index);
    if (!e.ok()) {
      Status s = e.status().WithContext(fmt::format("expression {}", i + 1));
      s.SetDetail(kErrorExpression, static_cast<int64_t>(i + 1));
      return s;
    }
    sets.push_back(e->Evaluate());
    r.expressions.push_back(expressions[i]);
    r.sizes.push_back(sets.back().Cardinality());
  }
  const size_t n = sets.size();
  r.pairwise.assign(n, std::vector<uint64_t>(n, 0));
  Bitmap all = sets[0].Copy(), any = sets[0].Copy();
  for (size_t i = 0; i < n; ++i) {
    r.pairwise[i][i] = r.sizes[i];
    for (size_t j = i + 1; j < n; ++j) {
      r.pairwise[i][j] = r.pairwise[j][i] = sets[i].AndCardinality(sets[j]);
    }
    if (i > 0) {
      all.AndInPlace(sets[i]);
      any.OrInPlace(sets[i]);
    }
  }
  r.in_all = all.Cardinality();
  r.in_any = any.Cardinality();
  return r;
}

std::string OverlapReport::ToJson() const {
  nlohmann::ordered_json j;
  j["customers"] = customers;
  auto& a = j["audiences"] = nlohmann::ordered_json::array();
  for (size_t i = 0; i < expressions.size(); ++i) {
    a.push_back({{"expression", expressions[i]}, {"size", sizes[i]}});
  }
  auto& p = j["pairs"] = nlohmann::ordered_json::array();
  for (size_t i = 0; i < expressions.size(); ++i) {
    for (size_t k = i + 1; k < expressions.size(); ++k) {
      p.push_back({{"a", i + 1}, {"b", k + 1}, {"customers", pairwise[i][k]}});
    }
  }
  j["in_all"] = in_all;
  j["in_any"] = in_any;
  return j.dump() + "\n";
}

std::string OverlapReport::ToCsv() const {
  std::string out = "a,b,customers\r\n";
  for (size_t i = 0; i < expressions.size(); ++i) {
    for (size_t k = i; k < expressions.size(); ++k) {
      out += fmt::format("{},{},{}\r\n", i + 1, k + 1, pairwise[i][k]);
    }
  }
  out += fmt::format("all,all,{}\r\nany,any,{}\r\n", in_all, in_any);
  return out;
}

std::string OverlapReport::ToTable() const {
  std::string out;
  for (size_t i = 0; i < expressions.size(); ++i) {
    out += fmt::format("{}: {}  ({} customers)\n", i + 1, expressions[i], WithThousands(sizes[i]));
  }
  out += fmt::format("\n{:>4}", "");
  for (size_t k = 0; k < expressions.size(); ++k) out += fmt::format("  {:>12}", k + 1);
  out += "\n";
  for (size_t i = 0; i < expressions.size(); ++i) {
    out += fmt::format("{:>4}", i + 1);
    for (size_t k = 0; k < expressions.size(); ++k) {
      out += fmt::format("  {:>12}", WithThousands(pairwise[i][k]));
    }
    out += "\n";
  }
  out += fmt::format("\nIn all: {}   in any: {}   of {} customers\n", WithThousands(in_all),
                     WithThousands(in_any), WithThousands(customers));
  return out;
}

}  // namespace tessera::audience
