#pragma once

// Activation on the data owner's side (`tessera match`): the owner's CRM file and key turn an
// audience export (pseudonyms) back into the owner's own customer rows, or into the hashed
// e-mail lists that ad platforms accept for Google Ads Customer Match and Meta Custom
// Audiences.
//
// Privacy: runs where the key is. Reads identifiers from the owner's CRM file and writes the
// owner's own rows (rows) or SHA-256 hashes of normalized e-mails (google, meta); keeps no
// identifier, writes none to the store, a log or an error (messages name lines and reasons).

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "tessera/common/status.h"
#include "tessera/io/mapping.h"
#include "tessera/privacy/owner_key.h"

namespace tessera::audience {

enum class MatchFormat {
  kRows,    // the CRM file's rows (its header and columns) whose customer is in the audience
  kGoogle,  // Google Ads Customer Match: header "Email", SHA-256 hex of the normalized e-mail
  kMeta,    // Meta Custom Audiences: header "email", SHA-256 hex of the normalized e-mail
};
// Errors: kInvalidArgument unless "rows", "google" or "meta".
StatusOr<MatchFormat> ParseMatchFormat(std::string_view text);

struct MatchSummary {
  uint64_t audience_size = 0;       // pseudonyms in the audience export
  uint64_t crm_rows = 0;            // data rows of the CRM file
  uint64_t matched_rows = 0;        // CRM rows whose customer is in the audience
  uint64_t matched_customers = 0;   // distinct audience members found in the CRM file
  uint64_t without_identifier = 0;  // rows with neither customer id nor e-mail
  uint64_t bad_identifier = 0;      // identifiers that do not normalize (skipped)
  uint64_t without_email = 0;       // google/meta: matched rows without a usable e-mail
  uint64_t written = 0;             // rows or hashes written (hashes once each)
  std::string ToText() const;
};

// Reads `audience_path` (CSV with a "uuid" column, as `tessera audience export` writes it),
// pseudonymizes each CRM row as ingest does (the customer id when present, else the e-mail,
// both normalized; columns found through `mapping`'s customer_id and email names), and writes
// the matches to `out` in `format`. The e-mail for google/meta is trimmed and lower-cased
// before hashing.
// Errors: kInvalidArgument (the CRM file has neither a customer id nor an e-mail column; the
// audience file has no uuid column or a line that is not a UUID), file errors, kInternal on a
// write failure.
StatusOr<MatchSummary> MatchAudience(const privacy::OwnerKey& key, const std::string& crm_path,
                                     const io::Mapping& mapping, const std::string& audience_path,
                                     MatchFormat format, std::FILE* out);

// SHA-256 of `text`, lower-case hex.
std::string Sha256Hex(std::string_view text);

}  // namespace tessera::audience
