#pragma once

// Named audiences kept in the store, the data owner's export policy, exports of members as
// pseudonym lists, and attributes attached to customers from other sources.
//
// Privacy: exports carry pseudonyms (UUIDs) only, and only for audiences of at least the
// minimum size the data owner set; attribute imports take pseudonyms, never identifiers.

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/audience/audience_store.h"
#include "tessera/audience/index.h"
#include "tessera/common/status.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/store/store.h"

namespace tessera::audience {

inline constexpr uint64_t kDefaultMinExportSize = 100;
inline constexpr const char* kMinExportSizeSetting = "audience.min_export_size";

// A name is 1..100 characters, printable (no control characters), not starting or ending
// with a blank. Errors: kInvalidArgument saying which rule it breaks.
Status ValidateAudienceName(std::string_view name);

// Parses `expression` against the index, counts it and saves it (a new audience, or with
// `replace` an existing one) with its size in the history. Returns the size.
// Errors: those of Expression::Parse, ValidateAudienceName and Store::SaveAudience.
StatusOr<uint64_t> SaveAudience(store::Store& store, const AudienceIndex& index,
                                const std::string& name, const std::string& expression,
                                bool replace);

// A saved audience with its size on the current index (or why it no longer parses, e.g. a
// segment that the newest snapshot's rules lack).
struct AudienceListing {
  audience::AudienceRecord record;
  std::optional<uint64_t> size;
  std::string error;
};
StatusOr<std::vector<AudienceListing>> ListAudiences(store::Store& store,
                                                     const AudienceIndex& index);
std::string ListingsToJson(const std::vector<AudienceListing>& listings);
std::string ListingsToTable(const std::vector<AudienceListing>& listings);
std::string HistoryToTable(const std::vector<audience::AudienceEvent>& history);
std::string HistoryToJson(const std::vector<audience::AudienceEvent>& history);

// The minimum export size: the store's setting, else kDefaultMinExportSize.
StatusOr<uint64_t> MinExportSize(store::Store& store);
// Sets it. Only the data owner may: `key` must be the key the store is bound to.
// Errors: kFailedPrecondition (another key, or a store without a key), kInvalidArgument (0).
Status SetMinExportSize(store::Store& store, const privacy::OwnerKey& key, uint64_t size);

// A saved audience's name, or an expression.
struct ResolvedAudience {
  std::string name;  // empty for an expression given directly
  std::string expression;
};
// A saved audience of that exact name, else the text as an expression.
StatusOr<ResolvedAudience> ResolveAudience(store::Store& store, const std::string& name_or_expr);

// Writes the members' pseudonyms as CSV (header "uuid", one per line, CRLF) and records the
// export in a saved audience's history. Returns the size.
// Errors: kFailedPrecondition when the audience is smaller than MinExportSize (nothing is
// written; the message gives the size and the minimum); those of Expression::Parse; kInternal
// on a write failure.
StatusOr<uint64_t> ExportAudience(store::Store& store, const AudienceIndex& index,
                                  const ResolvedAudience& audience, std::FILE* out);

// Attribute names are 1 to 64 lower-case letters, digits and '_', starting with a letter
// (io::IsAttributeName), and neither a built-in field nor a keyword of the expression language
// (segment, clv, store, region, channel, bought, and, ...). Errors: kInvalidArgument saying
// which rule the name breaks.
Status ValidateAttributeName(std::string_view name);

// Reads attributes from CSV with the columns uuid,name,value (header row, any order) and
// attaches them to the store's customers. Names are lower case letters, digits and '_',
// starting with a letter, and not a built-in field (segment, clv, store, region, ...).
struct AttributeImport {
  uint64_t rows = 0, attached = 0;
  uint64_t unknown_customers = 0;   // pseudonyms the store does not hold (skipped)
  std::vector<std::string> errors;  // "line N: reason" for bad rows (skipped); never a value
};
// Errors: kInvalidArgument (missing columns, a bad attribute name), file and store errors.
StatusOr<AttributeImport> ImportAttributes(store::Store& store, const std::string& path);

}  // namespace tessera::audience
