#include "tessera/audience/audiences.h"

#include <fmt/format.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "tessera/audience/expression.h"
#include "tessera/common/text.h"
#include "tessera/io/mapping.h"
#include "tessera/io/row_source.h"

namespace tessera::audience {

Status ValidateAudienceName(std::string_view name) {
  if (name.empty() || name.size() > 100) {
    return InvalidArgumentError("an audience name has 1 to 100 characters");
  }
  if (IsAsciiSpace(name.front()) || IsAsciiSpace(name.back())) {
    return InvalidArgumentError("an audience name does not start or end with a blank");
  }
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return InvalidArgumentError("an audience name has no control characters");
    }
  }
  return OkStatus();
}

StatusOr<uint64_t> SaveAudience(store::Store& store, const AudienceIndex& index,
                                const std::string& name, const std::string& expression,
                                bool replace) {
  TESSERA_RETURN_IF_ERROR(ValidateAudienceName(name));
  TESSERA_ASSIGN_OR_RETURN(Expression e, Expression::Parse(expression, index));
  const uint64_t size = e.Evaluate().Cardinality();
  TESSERA_RETURN_IF_ERROR(audience::AudienceStore(store).Save({name, expression, "", ""}, replace,
                                                              size, index.info().snapshot_id));
  return size;
}

StatusOr<std::vector<AudienceListing>> ListAudiences(store::Store& store,
                                                     const AudienceIndex& index) {
  TESSERA_ASSIGN_OR_RETURN(auto records, audience::AudienceStore(store).List());
  std::vector<AudienceListing> out;
  for (auto& r : records) {
    AudienceListing l;
    auto e = Expression::Parse(r.expression, index);
    if (e.ok()) {
      l.size = e->Evaluate().Cardinality();
    } else {
      l.error = e.status().message();
    }
    l.record = std::move(r);
    out.push_back(std::move(l));
  }
  return out;
}

std::string ListingsToJson(const std::vector<AudienceListing>& listings) {
  nlohmann::ordered_json j = nlohmann::ordered_json::array();
  for (const auto& l : listings) {
    nlohmann::ordered_json a;
    a["name"] = l.record.name;
    a["expression"] = l.record.expression;
    a["size"] = l.size ? nlohmann::ordered_json(*l.size) : nlohmann::ordered_json();
    if (!l.error.empty()) a["error"] = l.error;
    a["created_at"] = l.record.created_at;
    a["updated_at"] = l.record.updated_at;
    j.push_back(std::move(a));
  }
  return j.dump() + "\n";
}

std::string ListingsToTable(const std::vector<AudienceListing>& listings) {
  if (listings.empty()) {
    return "No saved audiences; save one with tessera audience save NAME \"EXPRESSION\"\n";
  }
  std::string out =
      fmt::format("{:<24}  {:>12}  {:<20}  {}\n", "name", "customers", "updated", "expression");
  for (const auto& l : listings) {
    out += fmt::format("{:<24}  {:>12}  {:<20}  {}\n", l.record.name,
                       l.size ? WithThousands(*l.size) : "error", l.record.updated_at,
                       l.record.expression);
    if (!l.error.empty()) out += fmt::format("{:<24}  ({})\n", "", l.error);
  }
  return out;
}

std::string HistoryToTable(const std::vector<audience::AudienceEvent>& history) {
  std::string out = fmt::format("{:>4}  {:<20}  {:<8}  {:>12}  {:>8}  {}\n", "seq", "at", "event",
                                "customers", "snapshot", "expression");
  for (const auto& e : history) {
    out += fmt::format("{:>4}  {:<20}  {:<8}  {:>12}  {:>8}  {}\n", e.seq, e.at, e.event,
                       e.event == "deleted" ? "-" : WithThousands(e.size),
                       e.event == "deleted" ? "-" : std::to_string(e.snapshot_id), e.expression);
  }
  return out;
}

std::string HistoryToJson(const std::vector<audience::AudienceEvent>& history) {
  nlohmann::ordered_json j = nlohmann::ordered_json::array();
  for (const auto& e : history) {
    j.push_back({{"seq", e.seq},
                 {"at", e.at},
                 {"event", e.event},
                 {"expression", e.expression},
                 {"size", e.size},
                 {"snapshot_id", e.snapshot_id}});
  }
  return j.dump() + "\n";
}

StatusOr<uint64_t> MinExportSize(store::Store& store) {
  TESSERA_ASSIGN_OR_RETURN(auto v, audience::AudienceStore(store).Setting(kMinExportSizeSetting));
  if (!v) return kDefaultMinExportSize;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v->c_str(), &end, 10);
  if (end == v->c_str() || *end != '\0' || n == 0) {
    return DataLossError(
        "the store's minimum export size is damaged; set it again with "
        "`tessera audience policy --min-export-size N`");
  }
  return static_cast<uint64_t>(n);
}

Status SetMinExportSize(store::Store& store, const privacy::OwnerKey& key, uint64_t size) {
  if (size == 0) return InvalidArgumentError("the minimum export size is at least 1");
  TESSERA_ASSIGN_OR_RETURN(auto bound, store.KeyFingerprint());
  if (!bound) {
    return FailedPreconditionError(
        "{} is bound to no key yet; only the data owner sets the export policy, after the first "
        "load",
        store.Describe());
  }
  if (*bound != key.Fingerprint()) {
    return FailedPreconditionError(
        "only the data owner sets the export policy: this key (fingerprint {}) is not the "
        "store's (fingerprint {})",
        key.Fingerprint(), *bound);
  }
  return audience::AudienceStore(store).SetSetting(kMinExportSizeSetting, std::to_string(size));
}

StatusOr<ResolvedAudience> ResolveAudience(store::Store& store, const std::string& name_or_expr) {
  TESSERA_ASSIGN_OR_RETURN(auto all, audience::AudienceStore(store).List());
  for (const auto& a : all) {
    if (a.name == name_or_expr) return ResolvedAudience{a.name, a.expression};
  }
  return ResolvedAudience{"", name_or_expr};
}

StatusOr<uint64_t> ExportAudience(store::Store& store, const AudienceIndex& index,
                                  const ResolvedAudience& audience, std::FILE* out) {
  TESSERA_ASSIGN_OR_RETURN(Expression e, Expression::Parse(audience.expression, index));
  const Bitmap members = e.Evaluate();
  const uint64_t size = members.Cardinality();
  TESSERA_ASSIGN_OR_RETURN(const uint64_t minimum, MinExportSize(store));
  if (size < minimum) {
    return FailedPreconditionError(
        "the audience has {} customers, fewer than the minimum export size {} that the data "
        "owner set (`tessera audience policy`); nothing was exported",
        size, minimum);
  }
  std::vector<privacy::Uuid> uuids(index.info().customers);
  TESSERA_RETURN_IF_ERROR(store.ScanCustomers([&](uint32_t i, const privacy::Uuid& u) {
    if (i < uuids.size()) uuids[i] = u;
  }));
  std::string buffer = "uuid\r\n";
  for (uint32_t c : members.ToVector()) {
    buffer += uuids[c].ToString();
    buffer += "\r\n";
  }
  if (std::fwrite(buffer.data(), 1, buffer.size(), out) != buffer.size()) {
    return InternalError("cannot write the export");
  }
  if (!audience.name.empty()) {
    TESSERA_RETURN_IF_ERROR(audience::AudienceStore(store).RecordEvent(
        audience.name, "exported", size, index.info().snapshot_id));
  }
  return size;
}

namespace {

bool IsReservedAttribute(std::string_view name) {
  static constexpr std::string_view kReserved[] = {
      "segment",     "clv",     "orders",  "recency_days",  "aov",
      "r_score",     "f_score", "m_score", "predicted_clv", "p_alive",
      "store",       "region",  "channel", "bought",        "avg_order_value",
      "order_count", "recency", "revenue", "and",           "or",
      "not",         "in"};
  for (auto r : kReserved) {
    if (name == r) return true;
  }
  return false;
}

}  // namespace

Status ValidateAttributeName(std::string_view name) {
  if (!io::IsAttributeName(name)) {
    return InvalidArgumentError(
        "'{}' is no attribute name: attribute names are 1 to 64 lower-case letters, digits and _, "
        "starting with a letter",
        name.size() > 64 ? std::string(name.substr(0, 64)) + "..." : std::string(name));
  }
  if (IsReservedAttribute(name)) {
    return InvalidArgumentError(
        "'{}' is a built-in field or keyword of audience expressions (segment, clv, store, "
        "region, channel, ...), not an attribute name: name the attribute otherwise in the "
        "mapping, e.g. [attributes] home_{} = \"{}\"",
        name, name, name);
  }
  return OkStatus();
}

StatusOr<AttributeImport> ImportAttributes(store::Store& store, const std::string& path) {
  io::SourceOptions options;
  options.format = io::InputFormat::kCsv;
  TESSERA_ASSIGN_OR_RETURN(auto source, io::RowSource::Open(path, options));
  TESSERA_RETURN_IF_ERROR(source->Select({"uuid", "name", "value"}));
  std::unordered_map<privacy::Uuid, uint32_t, privacy::UuidHash> index_of;
  TESSERA_RETURN_IF_ERROR(
      store.ScanCustomers([&](uint32_t i, const privacy::Uuid& u) { index_of.emplace(u, i); }));
  AttributeImport result;
  std::vector<audience::CustomerAttribute> batch;
  io::Row row;
  io::RowError error;
  bool ok = true;
  while (source->Next(&row, &error, &ok)) {
    if (!ok) {
      result.errors.push_back(fmt::format("line {}: {}", error.line, error.reason));
      continue;
    }
    ++result.rows;
    auto uuid = privacy::Uuid::Parse(TrimWhitespace(row.fields[0]));
    if (!uuid.ok()) {
      result.errors.push_back(fmt::format("line {}: uuid is not a UUID", row.line));
      continue;
    }
    const std::string name = AsciiLower(TrimWhitespace(row.fields[1]));
    if (!ValidateAttributeName(name).ok()) {
      return InvalidArgumentError(
          "{} line {}: attribute names are lower case letters, digits and _, start with a letter "
          "and are not a built-in field (segment, clv, store, region, channel, ...)",
          path, row.line);
    }
    const std::string_view value = TrimWhitespace(row.fields[2]);
    if (value.empty() || value.size() > 200) {
      result.errors.push_back(fmt::format("line {}: value is empty or longer than 200", row.line));
      continue;
    }
    auto it = index_of.find(*uuid);
    if (it == index_of.end()) {
      ++result.unknown_customers;
      continue;
    }
    batch.push_back({it->second, name, std::string(value)});
  }
  TESSERA_RETURN_IF_ERROR(audience::AudienceStore(store).PutAttributes(batch));
  result.attached = batch.size();
  return result;
}

}  // namespace tessera::audience
