#include "tessera/audience/activation.h"

#include <fmt/format.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
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
  if (text == "klaviyo") return MatchFormat::kKlaviyo;
  if (text == "mailchimp") return MatchFormat::kMailchimp;
  if (text == "brevo") return MatchFormat::kBrevo;
  return InvalidArgumentError(
      "--format: expected rows, google, meta, klaviyo, mailchimp or brevo, got '{}'", text);
}

namespace {

std::string_view FormatName(MatchFormat format) {
  switch (format) {
    case MatchFormat::kRows:
      return "rows";
    case MatchFormat::kGoogle:
      return "google";
    case MatchFormat::kMeta:
      return "meta";
    case MatchFormat::kKlaviyo:
      return "klaviyo";
    case MatchFormat::kMailchimp:
      return "mailchimp";
    case MatchFormat::kBrevo:
      return "brevo";
  }
  return "?";
}

// The formats for the owner's own e-mail tools: contacts in the clear.
bool IsContactFormat(MatchFormat format) {
  return format == MatchFormat::kKlaviyo || format == MatchFormat::kMailchimp ||
         format == MatchFormat::kBrevo;
}

}  // namespace

std::string Sha256Hex(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return privacy::HexEncode(
      std::string_view(reinterpret_cast<const char*>(digest), sizeof(digest)));
}

StatusOr<std::string> PlatformEmail(MatchFormat format, std::string_view raw) {
  TESSERA_ASSIGN_OR_RETURN(std::string email, privacy::NormalizeEmail(raw));
  if (format != MatchFormat::kGoogle) return email;
  const size_t at = email.rfind('@');
  const std::string_view domain = std::string_view(email).substr(at + 1);
  if (domain != "gmail.com" && domain != "googlemail.com") return email;
  std::string local = email.substr(0, at);
  std::erase(local, '.');
  return local + email.substr(at);
}

StatusOr<std::string> PlatformPhone(MatchFormat format, std::string_view raw,
                                    const privacy::PhoneDefaults& defaults) {
  TESSERA_ASSIGN_OR_RETURN(std::string e164, privacy::NormalizePhone(raw, defaults));
  return format == MatchFormat::kGoogle ? e164 : e164.substr(1);
}

std::string GoogleName(std::string_view raw) {
  std::string out;
  bool blank = false;
  for (char c : TrimWhitespace(raw)) {
    if (IsAsciiSpace(c)) {
      blank = true;
      continue;
    }
    if (blank) out += ' ';
    blank = false;
    out += AsciiLower(c);
  }
  return out;
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
  // Google's further columns: a phone, and a name with its country and zip (all four or none).
  const privacy::PhoneDefaults phone_defaults{mapping.default_phone_country,
                                              mapping.bare_phone_numbers_international};
  int phone_col = -1;
  std::array<int, 4> address_cols{-1, -1, -1, -1};  // first name, last name, country, zip
  if (format == MatchFormat::kGoogle) {
    phone_col = FindColumn(columns, mapping.columns[static_cast<size_t>(io::Field::kPhone)]);
    address_cols = {
        FindColumn(columns, {"first_name", "firstname", "first name", "given_name", "vorname"}),
        FindColumn(columns,
                   {"last_name", "lastname", "last name", "surname", "family_name", "nachname"}),
        FindColumn(columns, {"country", "country_code", "land"}),
        FindColumn(columns, {"zip", "zip_code", "zipcode", "postal_code", "postcode", "plz",
                             "postleitzahl"})};
    if (std::find(address_cols.begin(), address_cols.end(), -1) != address_cols.end()) {
      address_cols.fill(-1);
    }
  }
  const bool address = address_cols[0] >= 0;
  // The e-mail tools' columns: a phone (Klaviyo, Brevo) and each name where present.
  int first_name_col = -1, last_name_col = -1;
  if (IsContactFormat(format)) {
    if (format != MatchFormat::kMailchimp) {
      phone_col = FindColumn(columns, mapping.columns[static_cast<size_t>(io::Field::kPhone)]);
    }
    first_name_col =
        FindColumn(columns, {"first_name", "firstname", "first name", "given_name", "vorname"});
    last_name_col = FindColumn(
        columns, {"last_name", "lastname", "last name", "surname", "family_name", "nachname"});
  }
  const bool phone_allowed = format == MatchFormat::kGoogle || format == MatchFormat::kKlaviyo ||
                             format == MatchFormat::kBrevo;
  if (format != MatchFormat::kRows && email_col < 0 && phone_col < 0) {
    return InvalidArgumentError("{}: the {} format needs an e-mail column{} (mapping {})", crm_path,
                                FormatName(format), phone_allowed ? " or a phone column" : "",
                                mapping.name);
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
  } else if (format == MatchFormat::kMeta) {
    buffer += "email";
  } else if (IsContactFormat(format)) {
    // Each tool's own import column names (Klaviyo "Import contacts from a CSV"; Mailchimp's
    // default audience fields; Brevo's contact attributes EMAIL, FIRSTNAME, LASTNAME, SMS).
    const bool brevo = format == MatchFormat::kBrevo;
    std::vector<std::string_view> header;
    if (email_col >= 0) {
      header.push_back(brevo                               ? "EMAIL"
                       : format == MatchFormat::kMailchimp ? "Email Address"
                                                           : "Email");
    }
    if (phone_col >= 0 && !brevo) header.push_back("Phone Number");
    if (first_name_col >= 0) header.push_back(brevo ? "FIRSTNAME" : "First Name");
    if (last_name_col >= 0) header.push_back(brevo ? "LASTNAME" : "Last Name");
    if (phone_col >= 0 && brevo) header.push_back("SMS");
    for (size_t i = 0; i < header.size(); ++i) (buffer += i ? "," : "") += header[i];
  } else {
    // Google's own header names (support.google.com/google-ads/answer/7659867).
    std::vector<std::string_view> header;
    if (email_col >= 0) header.push_back("Email");
    if (phone_col >= 0) header.push_back("Phone");
    if (address) header.insert(header.end(), {"First Name", "Last Name", "Country", "Zip"});
    for (size_t i = 0; i < header.size(); ++i) (buffer += i ? "," : "") += header[i];
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
    } else if (IsContactFormat(format)) {
      // The owner's own contact, in the clear: the e-mail normalized, the phone in E.164.
      std::string email, phone;
      if (email_col >= 0) {
        auto e = privacy::NormalizeEmail(row.fields[email_col]);
        if (e.ok()) email = std::move(*e);
      }
      if (phone_col >= 0) {
        auto p = privacy::NormalizePhone(row.fields[phone_col], phone_defaults);
        if (p.ok()) phone = std::move(*p);
      }
      if (email.empty() && phone.empty()) {
        ++summary.without_email;
        continue;
      }
      const bool brevo = format == MatchFormat::kBrevo;
      std::vector<std::string> cells;
      if (email_col >= 0) cells.push_back(email);
      if (phone_col >= 0 && !brevo) cells.push_back(phone);
      if (first_name_col >= 0) cells.emplace_back(TrimWhitespace(row.fields[first_name_col]));
      if (last_name_col >= 0) cells.emplace_back(TrimWhitespace(row.fields[last_name_col]));
      if (phone_col >= 0 && brevo) cells.push_back(phone);
      std::string line;
      for (size_t i = 0; i < cells.size(); ++i) (line += i ? "," : "") += CsvEscape(cells[i]);
      if (!hashes.insert(line).second) continue;
      buffer += line;
      buffer += "\r\n";
      ++summary.written;
    } else {
      // Each cell normalized as the platform asks, hashed (but Google's country and zip); a
      // cell that does not normalize stays empty.
      std::string line;
      bool any = false, first = true;
      const auto next = [&](const std::string& value, bool hash) {
        if (!first) line += ',';
        first = false;
        if (value.empty()) return;
        line += hash ? Sha256Hex(value) : CsvEscape(value);
        any = true;
      };
      if (email_col >= 0) {
        auto email = PlatformEmail(format, row.fields[email_col]);
        next(email.ok() ? *email : "", true);
      }
      if (phone_col >= 0) {
        auto phone = PlatformPhone(format, row.fields[phone_col], phone_defaults);
        next(phone.ok() ? *phone : "", true);
      }
      if (address) {
        std::string first_name = GoogleName(row.fields[address_cols[0]]);
        std::string last_name = GoogleName(row.fields[address_cols[1]]);
        std::string country(TrimWhitespace(row.fields[address_cols[2]]));
        std::string zip(TrimWhitespace(row.fields[address_cols[3]]));
        for (char& c : country) c = AsciiUpper(c);
        const bool iso = country.size() == 2 && country[0] >= 'A' && country[0] <= 'Z' &&
                         country[1] >= 'A' && country[1] <= 'Z';
        // A name without its country and zip matches nothing: all four or none.
        if (first_name.empty() || last_name.empty() || !iso || zip.empty()) {
          first_name.clear(), last_name.clear(), country.clear(), zip.clear();
        }
        const bool had = any;
        next(first_name, true);
        next(last_name, true);
        next(country, false);
        next(zip, false);
        any = had || !first_name.empty();
      }
      if (!any) {
        ++summary.without_email;
        continue;
      }
      if (!hashes.insert(line).second) continue;
      buffer += line;
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
