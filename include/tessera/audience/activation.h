#pragma once

// Activation on the data owner's side (`tessera match`): the owner's CRM file and key turn an
// audience export (pseudonyms) back into the owner's own customer rows, or into the hashed
// e-mail lists that ad platforms accept for Google Ads Customer Match and Meta Custom
// Audiences.
//
// Privacy: runs where the key is. Reads identifiers from the owner's CRM file and writes the
// owner's own rows (rows), SHA-256 hashes of normalized e-mails, phones and names (google,
// meta; Google's country and zip as they are, as Google asks), or the owner's own contacts in
// the clear for its own e-mail tool (klaviyo, mailchimp, brevo: never for a destination, never
// a third party); keeps no identifier, writes none to the store, a log or an error (messages
// name lines and reasons).

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "tessera/common/status.h"
#include "tessera/io/mapping.h"
#include "tessera/privacy/owner_key.h"
#include "tessera/privacy/pseudonymizer.h"

namespace tessera::audience {

enum class MatchFormat {
  kRows,    // the CRM file's rows (its header and columns) whose customer is in the audience
  kGoogle,  // Google Ads Customer Match: "Email" (and, where the CRM file has them, "Phone",
            // "First Name", "Last Name", "Country", "Zip"), normalized as Google asks
            // (PlatformEmail, PlatformPhone, GoogleName); SHA-256 hex but Country and Zip
  kMeta,    // Meta Custom Audiences: header "email", SHA-256 hex of the normalized e-mail
  // The owner's own e-mail tools, raw (not hashed: the owner imports its own contacts into its
  // own account), with each tool's CSV import columns where the CRM file has them:
  kKlaviyo,    // "Email", "Phone Number" (E.164), "First Name", "Last Name"
  kMailchimp,  // "Email Address", "First Name", "Last Name"
  kBrevo,      // "EMAIL", "FIRSTNAME", "LASTNAME", "SMS" (E.164)
};
// Errors: kInvalidArgument unless "rows", "google", "meta", "klaviyo", "mailchimp" or "brevo".
StatusOr<MatchFormat> ParseMatchFormat(std::string_view text);

struct MatchSummary {
  uint64_t audience_size = 0;       // pseudonyms in the audience export
  uint64_t crm_rows = 0;            // data rows of the CRM file
  uint64_t matched_rows = 0;        // CRM rows whose customer is in the audience
  uint64_t matched_customers = 0;   // distinct audience members found in the CRM file
  uint64_t without_identifier = 0;  // rows with neither customer id nor e-mail
  uint64_t bad_identifier = 0;      // identifiers that do not normalize (skipped)
  uint64_t without_email = 0;       // google/meta: matched rows without a usable e-mail
                                    // (google: nor a phone, nor a full name and address)
  uint64_t written = 0;             // rows or hashes written (hashes once each)
  std::string ToText() const;
};

// Reads `audience_path` (CSV with a "uuid" column, as `tessera audience export` writes it),
// pseudonymizes each CRM row as ingest does (the customer id when present, else the e-mail,
// both normalized; columns found through `mapping`'s customer_id and email names), and writes
// the matches to `out` in `format`. google and meta write each distinct output row once,
// normalized as the platform asks (PlatformEmail, PlatformPhone, GoogleName); google adds the
// columns Phone (the mapping's phone column), and First Name, Last Name, Country and Zip
// (columns first_name/firstname/vorname, last_name/lastname/surname/nachname,
// country/country_code/land, zip/postal_code/postcode/plz) when the CRM file has all four.
// klaviyo, mailchimp and brevo write each distinct contact once: the e-mail normalized
// (trimmed, lower case), the phone in E.164 (klaviyo, brevo; the mapping's phone column), the
// first and last name trimmed (the columns google reads, each where present); a matched row
// without a usable e-mail (klaviyo, brevo: nor phone) counts in without_email.
// Errors: kInvalidArgument (the CRM file has neither a customer id nor an e-mail column; google,
// meta and mailchimp: no e-mail column, and for google, klaviyo and brevo no phone column
// either; the audience file has no
// uuid column or a line that is not a UUID), file errors, kInternal on a write failure.
StatusOr<MatchSummary> MatchAudience(const privacy::OwnerKey& key, const std::string& crm_path,
                                     const io::Mapping& mapping, const std::string& audience_path,
                                     MatchFormat format, std::FILE* out);

// SHA-256 of `text`, lower-case hex.
std::string Sha256Hex(std::string_view text);

// An e-mail as `format`'s platform wants it before hashing: trimmed and lower-cased
// (privacy::NormalizeEmail), and for Google the dots of a gmail.com or googlemail.com local part
// removed ("Jane.Doe@GMail.com" is "janedoe@gmail.com"; Google Ads API, "Normalize and hash
// user-provided data"). Meta removes no dots.
// Errors: those of privacy::NormalizeEmail.
StatusOr<std::string> PlatformEmail(MatchFormat format, std::string_view raw);

// A phone number as `format`'s platform wants it before hashing: Google E.164 with its '+'
// ("+4930123456"), Meta the same digits without it ("4930123456": "remove symbols, letters and
// any leading zeros", the country code first).
// Errors: those of privacy::NormalizePhone (national numbers need defaults.country).
StatusOr<std::string> PlatformPhone(MatchFormat format, std::string_view raw,
                                    const privacy::PhoneDefaults& defaults);

// A first or last name as Google hashes it: blanks around it trimmed, runs of blanks inside it
// one space, ASCII letters lower-cased; empty for an empty name.
std::string GoogleName(std::string_view raw);

}  // namespace tessera::audience
