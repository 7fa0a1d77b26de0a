#include "tessera/audience/activation.h"

#include <fmt/format.h>
#include <openssl/sha.h>

#include <unordered_set>

#include "tessera/common/text.h"
#include "tessera/io/columns.h"
#include "tessera/io/row_source.h"
#include "tessera/privacy/order_token.h"
#include "tessera/privacy/pseudonymizer.h"

namespace tessera::audience {

StatusOr<MatchFormat> ParseMatchFormat(std::string_view text) {
  if (text == "rows") return MatchFormat::kRows;
  if (text == "google") return MatchFormat::kGoogle;
  if (text == "meta") return MatchFormat::kMeta;
  return InvalidArgumentError("--format: expected rows, google or meta, got '{}'", text);
}

std::string Sha256Hex(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return privacy::HexEncode(
      std::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

std::string MatchSummary::ToText() const {
  return fmt::format(
      "  audience          {}\n  CRM rows          {}\n  matched rows      {}\n"
      "  matched customers {}\n  without id        {}\n  bad identifiers   {}\n"
      "  without e-mail    {}\n  written           {}\n",
      audience_size, crm_rows, matched_rows, matched_customers, without_identifier, bad_identifier,
      without_email, written);
}

namespace {

StatusOr<std::unordered_set<privacy::Uuid, privacy::UuidHash>> ReadAudience(
    const std::string& path) {
  io::SourceOptions options;
  options.format = io::InputFormat::kCsv;
  TESSERA_ASSIGN_OR_RETURN(auto source, io::RowSource::Open(path, options));
  TESSERA_RETURN_IF_ERROR(source->Select({"uuid"}).WithContext(path));
  std::unordered_set<privacy::Uuid, privacy::UuidHash> members;
  io::Row row;
  io::RowError error;
  bool ok = true;
  while (source->Next(&row, &error, &ok)) {
    if (!ok) return InvalidArgumentError("{} line {}: {}", path, error.line, error.reason);
    auto uuid = privacy::Uuid::Parse(TrimWhitespace(row.fields[0]));
    if (!uuid.ok()) return InvalidArgumentError("{} line {}: not a UUID", path, row.line);
    members.insert(*uuid);
  }
  return members;
}

// The position among `columns` of the first candidate name present (case-insensitive), or -1.
int FindColumn(const std::vector<std::string>& columns, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    for (size_t i = 0; i < columns.size(); ++i) {
      if (EqualsIgnoreCase(columns[i], name)) return static_cast<int>(i);
    }
  }
  return -1;
}

}  // namespace

StatusOr<MatchSummary> MatchAudience(const privacy::OwnerKey& key, const std::string& crm_path,
                                     const io::Mapping& mapping, const std::string& audience_path,
                                     MatchFormat format, std::FILE* out) {
  TESSERA_ASSIGN_OR_RETURN(auto members, ReadAudience(audience_path));
  TESSERA_ASSIGN_OR_RETURN(auto pseudonymizer, privacy::Pseudonymizer::Create(key));
  io::SourceOptions options = mapping.source;
  options.format = io::InputFormat::kCsv;
  TESSERA_ASSIGN_OR_RETURN(auto crm, io::RowSource::Open(crm_path, options));
  const std::vector<std::string> columns = crm->columns();
  const int id_col =
      FindColumn(columns, mapping.columns[static_cast<size_t>(io::Field::kCustomerId)]);
  const int email_col =
      FindColumn(columns, mapping.columns[static_cast<size_t>(io::Field::kEmail)]);
  if (id_col < 0 && email_col < 0) {
    return InvalidArgumentError(
        "{}: no customer id or e-mail column (mapping {}); columns found: {}", crm_path,
        mapping.name, io::DescribeColumns(columns).text);
  }
  if (format != MatchFormat::kRows && email_col < 0) {
    return InvalidArgumentError("{}: the {} format needs an e-mail column (mapping {})", crm_path,
                                format == MatchFormat::kGoogle ? "google" : "meta", mapping.name);
  }
  TESSERA_RETURN_IF_ERROR(crm->Select(columns));

  MatchSummary summary;
  summary.audience_size = members.size();
  std::unordered_set<privacy::Uuid, privacy::UuidHash> found;
  std::unordered_set<std::string> hashes;
  std::string buffer;
  auto flush = [&]() -> Status {
    if (!buffer.empty() && std::fwrite(buffer.data(), 1, buffer.size(), out) != buffer.size()) {
      return InternalError("cannot write the match output");
    }
    buffer.clear();
    return OkStatus();
  };
  if (format == MatchFormat::kRows) {
    for (size_t i = 0; i < columns.size(); ++i) {
      buffer += (i ? "," : "") + CsvEscape(columns[i]);
    }
  } else {
    buffer += format == MatchFormat::kGoogle ? "Email" : "email";
  }
  buffer += "\r\n";
  io::Row row;
  io::RowError error;
  bool ok = true;
  while (crm->Next(&row, &error, &ok)) {
    if (!ok) {
      ++summary.bad_identifier;
      continue;
    }
    ++summary.crm_rows;
    // The same rule as ingest: the customer id when there is one, else the e-mail.
    std::string_view raw = id_col >= 0 ? row.fields[id_col] : std::string_view();
    auto kind = privacy::IdentifierKind::kCustomerNumber;
    if (TrimWhitespace(raw).empty()) {
      raw = email_col >= 0 ? row.fields[email_col] : std::string_view();
      kind = privacy::IdentifierKind::kEmail;
    }
    if (TrimWhitespace(raw).empty()) {
      ++summary.without_identifier;
      continue;
    }
    auto normalized = privacy::NormalizeIdentifier(kind, raw);
    if (!normalized.ok()) {
      ++summary.bad_identifier;
      continue;
    }
    const privacy::Uuid uuid = pseudonymizer.Pseudonym(kind, *normalized);
    if (members.count(uuid) == 0) continue;
    ++summary.matched_rows;
    found.insert(uuid);
    if (format == MatchFormat::kRows) {
      for (size_t i = 0; i < row.fields.size(); ++i) {
        buffer += (i ? "," : "") + CsvEscape(row.fields[i]);
      }
      buffer += "\r\n";
      ++summary.written;
    } else {
      auto email = privacy::NormalizeEmail(row.fields[email_col]);  // trimmed, lower case
      if (!email.ok()) {
        ++summary.without_email;
        continue;
      }
      std::string hash = Sha256Hex(*email);
      if (!hashes.insert(hash).second) continue;
      buffer += hash;
      buffer += "\r\n";
      ++summary.written;
    }
    if (buffer.size() > (1 << 20)) TESSERA_RETURN_IF_ERROR(flush());
  }
  TESSERA_RETURN_IF_ERROR(flush());
  summary.matched_customers = found.size();
  return summary;
}

}  // namespace tessera::audience
