#include "tessera/collab/grant.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "tessera/common/civil_time.h"
#include "tessera/privacy/order_token.h"

namespace tessera::collab {
namespace {

using Json = nlohmann::json;

template <typename... Args>
Status FieldError(std::string_view field, fmt::format_string<Args...> f, Args&&... args) {
  Status s =
      InvalidArgumentError("grant: {}: {}", field, fmt::format(f, std::forward<Args>(args)...));
  s.SetDetail("field", std::string(field));
  return s;
}

constexpr std::pair<Purpose, std::string_view> kPurposes[] = {
    {Purpose::kOverlap, "overlap"},
    {Purpose::kAudienceCounts, "audience_counts"},
    {Purpose::kActivation, "activation"},
    {Purpose::kCampaignMeasurement, "campaign_measurement"},
};
constexpr std::pair<OutputKind, std::string_view> kOutputKinds[] = {
    {OutputKind::kOverlapSize, "overlap_size"},
    {OutputKind::kAudienceCount, "audience_count"},
    {OutputKind::kCellCounts, "cell_counts"},
    {OutputKind::kActivationList, "activation_list"},
};
constexpr std::pair<GrantRefusal, std::string_view> kRefusals[] = {
    {GrantRefusal::kNoGrant, "no_grant"},
    {GrantRefusal::kRevoked, "revoked"},
    {GrantRefusal::kWrongGrantee, "wrong_grantee"},
    {GrantRefusal::kPurposeNotAllowed, "purpose_not_allowed"},
    {GrantRefusal::kNotYetValid, "not_yet_valid"},
    {GrantRefusal::kExpired, "expired"},
    {GrantRefusal::kNoCommonFields, "no_common_fields"},
    {GrantRefusal::kNoCommonOutputKinds, "no_common_output_kinds"},
    {GrantRefusal::kNoCommonRecipients, "no_common_recipients"},
    {GrantRefusal::kNoCommonWorkerHosts, "no_common_worker_hosts"},
    {GrantRefusal::kNoCommonAttestationModes, "no_common_attestation_modes"},
};

template <typename E, size_t N>
std::string_view NameOf(const std::pair<E, std::string_view> (&table)[N], E value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return "?";
}

template <typename E, size_t N>
StatusOr<E> ValueOf(const std::pair<E, std::string_view> (&table)[N], std::string_view name,
                    std::string_view what) {
  std::string known;
  for (const auto& [v, n] : table) {
    if (n == name) return v;
    known += known.empty() ? "" : ", ";
    known += n;
  }
  return InvalidArgumentError("unknown {} (known: {})", what, known);
}

// --- Canonical JSON (RFC 8785)

// The UTF-16 code units of `s`: JCS sorts member names by them. Bytes that are not UTF-8 (only
// possible for a grant built in memory, never for parsed JSON) count as U+FFFD.
std::u16string Utf16(std::string_view s) {
  std::u16string out;
  for (size_t i = 0; i < s.size();) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    const int extra = b0 < 0x80 ? 0 : b0 >= 0xf0 ? 3 : b0 >= 0xe0 ? 2 : b0 >= 0xc0 ? 1 : -1;
    char32_t cp = 0xfffd;
    if (extra >= 0 && i + extra < s.size()) {
      cp = extra == 0 ? b0 : b0 & (0x3f >> extra);
      for (int k = 1; k <= extra; ++k) cp = cp << 6 | (static_cast<uint8_t>(s[i + k]) & 0x3f);
    }
    i += extra > 0 ? extra + 1 : 1;
    if (cp >= 0x10000 && cp <= 0x10ffff) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xd800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xdc00 + (cp & 0x3ff)));
    } else {
      out.push_back(static_cast<char16_t>(cp > 0xffff ? 0xfffd : cp));
    }
  }
  return out;
}

// As ECMAScript's JSON.stringify (QuoteJSONString): the two-character escapes, \u00xx (lower
// case hex) for the other control characters, everything else as is.
void AppendQuoted(std::string_view s, std::string& out) {
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<uint8_t>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void AppendCanonical(const Json& j, std::string& out) {
  switch (j.type()) {
    case Json::value_t::object: {
      std::vector<std::pair<std::u16string, Json::const_iterator>> members;
      for (auto it = j.begin(); it != j.end(); ++it) members.emplace_back(Utf16(it.key()), it);
      std::sort(members.begin(), members.end(),
                [](const auto& a, const auto& b) { return a.first < b.first; });
      out.push_back('{');
      for (size_t i = 0; i < members.size(); ++i) {
        if (i > 0) out.push_back(',');
        AppendQuoted(members[i].second.key(), out);
        out.push_back(':');
        AppendCanonical(members[i].second.value(), out);
      }
      out.push_back('}');
      return;
    }
    case Json::value_t::array:
      out.push_back('[');
      for (size_t i = 0; i < j.size(); ++i) {
        if (i > 0) out.push_back(',');
        AppendCanonical(j[i], out);
      }
      out.push_back(']');
      return;
    case Json::value_t::string:
      AppendQuoted(j.get_ref<const std::string&>(), out);
      return;
    default:
      // null, true, false and integers print the same in nlohmann and ECMAScript. Floats never
      // get here (CheckIJson refuses them; grants hold none).
      out += j.dump();
  }
}

constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;

// What JCS with integers only can represent exactly; nesting is bounded for the recursion.
Status CheckSubset(const Json& j, int depth) {
  if (depth > 64) return InvalidArgumentError("JSON nested deeper than 64 levels");
  switch (j.type()) {
    case Json::value_t::object:
    case Json::value_t::array:
      for (const Json& v : j) TESSERA_RETURN_IF_ERROR(CheckSubset(v, depth + 1));
      return OkStatus();
    case Json::value_t::number_float:
      return InvalidArgumentError("a number with a fraction or an exponent (only integers)");
    case Json::value_t::number_unsigned:
      if (j.get<uint64_t>() > static_cast<uint64_t>(kMaxSafeInteger)) {
        return InvalidArgumentError("an integer above 2^53 - 1");
      }
      return OkStatus();
    case Json::value_t::number_integer:
      if (j.get<int64_t>() < -kMaxSafeInteger) {
        return InvalidArgumentError("an integer below -(2^53 - 1)");
      }
      return OkStatus();
    default:
      return OkStatus();
  }
}

// nlohmann keeps the last of two members with one name; I-JSON (RFC 7493), which JCS
// builds on, forbids them, and a signed document must not mean two things.
StatusOr<Json> ParseStrictJson(std::string_view text) {
  std::vector<std::set<std::string>> names;
  std::optional<std::string> duplicate;
  const Json::parser_callback_t note = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) {
      names.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      if (!names.empty()) names.pop_back();
    } else if (event == Json::parse_event_t::key && !names.empty()) {
      const auto& name = parsed.get_ref<const std::string&>();
      if (!names.back().insert(name).second && !duplicate) duplicate = name;
    }
    return true;
  };
  Json j;
  try {
    j = Json::parse(text.begin(), text.end(), note);
  } catch (const Json::exception& e) {
    std::string_view what = e.what();
    if (const size_t cut = what.find("] "); cut != std::string_view::npos) {
      what.remove_prefix(cut + 2);
    }
    return InvalidArgumentError("not JSON: {}", what);
  }
  if (duplicate) return InvalidArgumentError("the member \"{}\" appears twice", *duplicate);
  TESSERA_RETURN_IF_ERROR(CheckSubset(j, 0));
  return j;
}

std::string Canonical(const Json& j) {
  std::string out;
  AppendCanonical(j, out);
  return out;
}

// --- Grant fields

constexpr std::string_view kFieldNames[] = {
    "allowed_fields", "attestation_modes", "created_at",   "differential_privacy",
    "expires",        "grant_id",          "grantee",      "grantor",
    "k_min",          "not_before",        "output_kinds", "predicates",
    "purpose",        "recipients",        "signature",    "type",
    "worker_hosts"};

bool IsFieldName(std::string_view s) {
  if (s.empty() || s.size() > 64 || s[0] < 'a' || s[0] > 'z') return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool IsGrantId(std::string_view s) {
  return s.size() == 18 && s.starts_with("g_") && IsLowerHex(s.substr(2));
}

template <typename T>
bool HasDuplicates(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return std::adjacent_find(v.begin(), v.end()) != v.end();
}

Json FieldsJson(const Grant& g) {
  const GrantSpec& s = g.spec;
  Json j = Json::object();
  j["type"] = kGrantType;
  j["grant_id"] = g.id;
  j["grantor"] = s.grantor.ToString();
  j["grantee"] = s.grantee.ToString();
  j["purpose"] = PurposeName(s.purpose);
  j["allowed_fields"] = Json::array();
  for (const std::string& f : s.allowed_fields) j["allowed_fields"].push_back(f);
  j["predicates"] = Json::object();
  if (s.predicates.max_category_depth) {
    j["predicates"]["max_category_depth"] = *s.predicates.max_category_depth;
  }
  if (s.predicates.max_breakdown_attributes) {
    j["predicates"]["max_breakdown_attributes"] = *s.predicates.max_breakdown_attributes;
  }
  j["output_kinds"] = Json::array();
  for (OutputKind k : s.output_kinds) j["output_kinds"].push_back(OutputKindName(k));
  j["k_min"] = s.k_min;
  if (s.differential_privacy) {
    Json dp = Json::object();
    dp["epsilon_per_query"] = FormatEpsilon(s.differential_privacy->epsilon_per_query_micro);
    dp["budget_per_period"] = FormatEpsilon(s.differential_privacy->budget_per_period_micro);
    dp["period"] = s.differential_privacy->period;
    j["differential_privacy"] = std::move(dp);
  }
  j["recipients"] = Json::array();
  for (const PartyId& id : s.recipients) j["recipients"].push_back(id.ToString());
  j["worker_hosts"] = Json::array();
  for (const PartyId& id : s.worker_hosts) j["worker_hosts"].push_back(id.ToString());
  j["attestation_modes"] = Json::array();
  for (AttestationMode m : s.attestation_modes) {
    j["attestation_modes"].push_back(AttestationModeName(m));
  }
  j["not_before"] = FormatIsoTimestamp(s.not_before);
  j["expires"] = FormatIsoTimestamp(s.expires);
  j["created_at"] = FormatIsoTimestamp(g.created_at);
  return j;
}

// Reads the fields of one grant object, field by field, naming the field in every error.
class GrantReader {
 public:
  explicit GrantReader(const Json& j) : j_(j) {}

  const Json* Find(std::string_view field) const {
    const auto it = j_.find(field);
    return it == j_.end() ? nullptr : &*it;
  }

  StatusOr<const Json*> Get(std::string_view field) const {
    const Json* v = Find(field);
    if (v == nullptr) return FieldError(field, "missing");
    return v;
  }

  StatusOr<std::string> String(std::string_view field) const {
    TESSERA_ASSIGN_OR_RETURN(const Json* v, Get(field));
    return StringValue(*v, field);
  }

  static StatusOr<std::string> StringValue(const Json& v, std::string_view field) {
    if (!v.is_string()) return FieldError(field, "must be a string");
    return v.get<std::string>();
  }

  static StatusOr<int64_t> IntegerValue(const Json& v, std::string_view field, int64_t lo,
                                        int64_t hi) {
    if (!v.is_number_integer()) return FieldError(field, "must be an integer");
    const bool in_range = v.is_number_unsigned() ? v.get<uint64_t>() <= static_cast<uint64_t>(hi) &&
                                                       static_cast<int64_t>(v.get<uint64_t>()) >= lo
                                                 : v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
    if (!in_range) return FieldError(field, "must be from {} to {}", lo, hi);
    return v.get<int64_t>();
  }

  StatusOr<std::vector<std::string>> Strings(std::string_view field) const {
    TESSERA_ASSIGN_OR_RETURN(const Json* v, Get(field));
    if (!v->is_array()) return FieldError(field, "must be a list of strings");
    if (v->size() > 1000) return FieldError(field, "lists more than 1000 entries");
    std::vector<std::string> out;
    for (const Json& item : *v) {
      if (!item.is_string()) return FieldError(field, "must be a list of strings");
      out.push_back(item.get<std::string>());
    }
    return out;
  }

  StatusOr<PartyId> Party(std::string_view field) const {
    TESSERA_ASSIGN_OR_RETURN(const std::string text, String(field));
    auto id = PartyId::Parse(text);
    if (!id.ok()) return FieldError(field, "{}", id.status().message());
    return *id;
  }

  StatusOr<std::vector<PartyId>> Parties(std::string_view field) const {
    TESSERA_ASSIGN_OR_RETURN(const std::vector<std::string> texts, Strings(field));
    std::vector<PartyId> out;
    for (const std::string& text : texts) {
      auto id = PartyId::Parse(text);
      if (!id.ok()) return FieldError(field, "{}", id.status().message());
      out.push_back(*id);
    }
    return out;
  }

  StatusOr<int64_t> Time(std::string_view field) const {
    TESSERA_ASSIGN_OR_RETURN(const std::string text, String(field));
    auto t = ParseGrantTime(text);
    if (!t.ok()) return FieldError(field, "{}", t.status().message());
    return *t;
  }

  // A list of names, each read by `parse`.
  template <typename E>
  StatusOr<std::vector<E>> Names(std::string_view field,
                                 StatusOr<E> (*parse)(std::string_view)) const {
    TESSERA_ASSIGN_OR_RETURN(const std::vector<std::string> texts, Strings(field));
    std::vector<E> out;
    for (const std::string& text : texts) {
      auto v = parse(text);
      if (!v.ok()) return FieldError(field, "\"{}\": {}", text, v.status().message());
      out.push_back(*v);
    }
    return out;
  }

 private:
  const Json& j_;
};

// An ε written as ParseEpsilon reads it and in its shortest form, so that one grant has one
// document.
StatusOr<int64_t> CanonicalEpsilon(const Json& v, std::string_view field) {
  TESSERA_ASSIGN_OR_RETURN(const std::string text, GrantReader::StringValue(v, field));
  auto micro = ParseEpsilon(text);
  if (!micro.ok()) return FieldError(field, "{}", micro.status().message());
  if (FormatEpsilon(*micro) != text) {
    return FieldError(field, "write it as \"{}\"", FormatEpsilon(*micro));
  }
  return static_cast<int64_t>(*micro);  // at most kMaxMicroEpsilon
}

StatusOr<Grant> GrantFromJson(const Json& j, bool with_signature) {
  if (!j.is_object()) return FieldError("(document)", "a grant is a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(std::begin(kFieldNames), std::end(kFieldNames), it.key()) ==
            std::end(kFieldNames) ||
        (!with_signature && it.key() == "signature")) {
      return FieldError(it.key(), "unknown field");
    }
  }
  const GrantReader r(j);
  TESSERA_ASSIGN_OR_RETURN(const std::string type, r.String("type"));
  if (type != kGrantType) return FieldError("type", "must be \"{}\"", kGrantType);
  TESSERA_ASSIGN_OR_RETURN(std::string id, r.String("grant_id"));
  if (!IsGrantId(id)) return FieldError("grant_id", "must be \"g_\" and 16 lowercase hex digits");
  TESSERA_ASSIGN_OR_RETURN(const PartyId grantor, r.Party("grantor"));
  TESSERA_ASSIGN_OR_RETURN(const PartyId grantee, r.Party("grantee"));
  GrantSpec spec{.grantor = grantor, .grantee = grantee};
  TESSERA_ASSIGN_OR_RETURN(const std::string purpose, r.String("purpose"));
  auto parsed_purpose = ParsePurpose(purpose);
  if (!parsed_purpose.ok()) return FieldError("purpose", "{}", parsed_purpose.status().message());
  spec.purpose = *parsed_purpose;
  TESSERA_ASSIGN_OR_RETURN(spec.allowed_fields, r.Strings("allowed_fields"));

  TESSERA_ASSIGN_OR_RETURN(const Json* predicates, r.Get("predicates"));
  if (!predicates->is_object()) return FieldError("predicates", "must be an object");
  for (auto it = predicates->begin(); it != predicates->end(); ++it) {
    const std::string field = "predicates." + it.key();
    if (it.key() == "max_category_depth") {
      TESSERA_ASSIGN_OR_RETURN(spec.predicates.max_category_depth,
                               GrantReader::IntegerValue(it.value(), field, 1, 16));
    } else if (it.key() == "max_breakdown_attributes") {
      TESSERA_ASSIGN_OR_RETURN(spec.predicates.max_breakdown_attributes,
                               GrantReader::IntegerValue(it.value(), field, 0, 2));
    } else {
      return FieldError(field,
                        "unknown predicate (known: max_category_depth, "
                        "max_breakdown_attributes)");
    }
  }

  TESSERA_ASSIGN_OR_RETURN(spec.output_kinds, r.Names("output_kinds", ParseOutputKind));
  TESSERA_ASSIGN_OR_RETURN(const Json* k_min, r.Get("k_min"));
  TESSERA_ASSIGN_OR_RETURN(spec.k_min, GrantReader::IntegerValue(*k_min, "k_min", 2, 1000000000));

  if (const Json* dp = r.Find("differential_privacy")) {
    if (!dp->is_object()) return FieldError("differential_privacy", "must be an object");
    for (auto it = dp->begin(); it != dp->end(); ++it) {
      if (it.key() != "epsilon_per_query" && it.key() != "budget_per_period" &&
          it.key() != "period") {
        return FieldError("differential_privacy." + it.key(),
                          "unknown field (known: epsilon_per_query, budget_per_period, period)");
      }
    }
    const auto member = [&](std::string_view key) -> StatusOr<const Json*> {
      const auto it = dp->find(key);
      if (it == dp->end())
        return FieldError(fmt::format("differential_privacy.{}", key), "missing");
      return &*it;
    };
    DpPolicy policy;
    TESSERA_ASSIGN_OR_RETURN(const Json* eps, member("epsilon_per_query"));
    TESSERA_ASSIGN_OR_RETURN(policy.epsilon_per_query_micro,
                             CanonicalEpsilon(*eps, "differential_privacy.epsilon_per_query"));
    TESSERA_ASSIGN_OR_RETURN(const Json* budget, member("budget_per_period"));
    TESSERA_ASSIGN_OR_RETURN(policy.budget_per_period_micro,
                             CanonicalEpsilon(*budget, "differential_privacy.budget_per_period"));
    TESSERA_ASSIGN_OR_RETURN(const Json* period, member("period"));
    TESSERA_ASSIGN_OR_RETURN(policy.period,
                             GrantReader::StringValue(*period, "differential_privacy.period"));
    spec.differential_privacy = std::move(policy);
  }

  TESSERA_ASSIGN_OR_RETURN(spec.recipients, r.Parties("recipients"));
  TESSERA_ASSIGN_OR_RETURN(spec.worker_hosts, r.Parties("worker_hosts"));
  TESSERA_ASSIGN_OR_RETURN(spec.attestation_modes,
                           r.Names("attestation_modes", ParseAttestationMode));
  TESSERA_ASSIGN_OR_RETURN(spec.not_before, r.Time("not_before"));
  TESSERA_ASSIGN_OR_RETURN(spec.expires, r.Time("expires"));
  TESSERA_RETURN_IF_ERROR(ValidateGrantSpec(spec));

  Grant grant{std::move(id), std::move(spec), 0, {}};
  TESSERA_ASSIGN_OR_RETURN(grant.created_at, r.Time("created_at"));
  if (with_signature) {
    TESSERA_ASSIGN_OR_RETURN(const std::string sig, r.String("signature"));
    if (sig.size() != 2 * grant.signature.size() || !IsLowerHex(sig)) {
      return FieldError("signature", "must be {} lowercase hex digits", 2 * grant.signature.size());
    }
    TESSERA_ASSIGN_OR_RETURN(const std::string bytes, privacy::HexDecode(sig));
    std::copy(bytes.begin(), bytes.end(), grant.signature.begin());
  }
  return grant;
}

// The fields that ParseGrant reads back as `grant` print as the signed bytes only when
// reading loses nothing; a difference would be a bug here, never the sender's.
Status CheckRoundTrip(const Json& fields, const Grant& grant) {
  if (Canonical(fields) != SignedGrantBytes(grant)) {
    return InternalError("grant {}: reading its document lost a detail", grant.id);
  }
  return OkStatus();
}

StatusOr<Grant> ParseGrantDocument(std::string_view json_text, bool with_signature) {
  if (json_text.size() > kMaxGrantBytes) {
    return FieldError("(document)", "larger than {} bytes", kMaxGrantBytes);
  }
  auto parsed = ParseStrictJson(json_text);
  if (!parsed.ok()) return FieldError("(document)", "{}", parsed.status().message());
  TESSERA_ASSIGN_OR_RETURN(Grant grant, GrantFromJson(*parsed, with_signature));
  parsed->erase("signature");
  TESSERA_RETURN_IF_ERROR(CheckRoundTrip(*parsed, grant));
  return grant;
}

template <typename T>
std::vector<T> Sorted(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v;
}

template <typename T>
std::vector<T> Intersect(const std::vector<T>& sorted, std::vector<T> other) {
  std::sort(other.begin(), other.end());
  std::vector<T> out;
  std::set_intersection(sorted.begin(), sorted.end(), other.begin(), other.end(),
                        std::back_inserter(out));
  return out;
}

std::optional<int64_t> MinSet(std::optional<int64_t> a, std::optional<int64_t> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

Status Refuse(GrantRefusal refusal, std::string_view grant_id, std::string message) {
  Status s = FailedPreconditionError("{}", message);
  s.SetDetail("reason", std::string(GrantRefusalName(refusal)));
  if (!grant_id.empty()) s.SetDetail("grant_id", std::string(grant_id));
  return s;
}

}  // namespace

std::string_view PurposeName(Purpose purpose) { return NameOf(kPurposes, purpose); }
StatusOr<Purpose> ParsePurpose(std::string_view name) {
  return ValueOf(kPurposes, name, "purpose");
}
std::string_view OutputKindName(OutputKind kind) { return NameOf(kOutputKinds, kind); }
StatusOr<OutputKind> ParseOutputKind(std::string_view name) {
  return ValueOf(kOutputKinds, name, "output kind");
}
std::string_view GrantRefusalName(GrantRefusal refusal) { return NameOf(kRefusals, refusal); }

StatusOr<int64_t> ParseGrantTime(std::string_view iso) {
  const auto bad = [] {
    return InvalidArgumentError("a time is written YYYY-MM-DDTHH:MM:SSZ (UTC), years 1970 to 9999");
  };
  if (iso.size() != 20 || iso[10] != 'T' || iso[13] != ':' || iso[16] != ':' || iso[19] != 'Z') {
    return bad();
  }
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    if (iso[i] < '0' || iso[i] > '9') return bad();
  }
  auto day = ParseIsoDate(iso.substr(0, 10));
  if (!day.ok() || *day < 0) return bad();
  const auto two = [&](size_t i) { return (iso[i] - '0') * 10 + (iso[i + 1] - '0'); };
  const int h = two(11), m = two(14), s = two(17);
  if (h > 23 || m > 59 || s > 59) return bad();
  return *day * 86400 + h * 3600 + m * 60 + s;
}

StatusOr<std::string> CanonicalizeJson(std::string_view json_text) {
  TESSERA_ASSIGN_OR_RETURN(const Json j, ParseStrictJson(json_text));
  return Canonical(j);
}

Status ValidateGrantSpec(const GrantSpec& spec) {
  if (spec.grantor == spec.grantee) {
    return FieldError("grantee", "a grant is for another party than its grantor");
  }
  for (const std::string& f : spec.allowed_fields) {
    if (!IsFieldName(f)) {
      return FieldError("allowed_fields",
                        "\"{}\" is not an attribute name (a-z, 0-9 and _, starting with a letter, "
                        "up to 64)",
                        f);
    }
  }
  if (HasDuplicates(spec.allowed_fields)) return FieldError("allowed_fields", "lists a name twice");
  if (spec.output_kinds.empty()) return FieldError("output_kinds", "names no output kind");
  if (HasDuplicates(spec.output_kinds)) return FieldError("output_kinds", "lists a kind twice");
  if (spec.purpose != Purpose::kActivation &&
      std::find(spec.output_kinds.begin(), spec.output_kinds.end(), OutputKind::kActivationList) !=
          spec.output_kinds.end()) {
    return FieldError("output_kinds", "activation_list is for the purpose activation only");
  }
  if (spec.k_min < 2 || spec.k_min > 1000000000) {
    return FieldError("k_min", "must be from 2 to 1000000000");
  }
  const GrantPredicates& p = spec.predicates;
  if (p.max_category_depth && (*p.max_category_depth < 1 || *p.max_category_depth > 16)) {
    return FieldError("predicates.max_category_depth", "must be from 1 to 16");
  }
  if (p.max_breakdown_attributes &&
      (*p.max_breakdown_attributes < 0 || *p.max_breakdown_attributes > 2)) {
    return FieldError("predicates.max_breakdown_attributes", "must be from 0 to 2");
  }
  if (const auto& dp = spec.differential_privacy) {
    constexpr auto kMaxMicro = static_cast<int64_t>(kMaxMicroEpsilon);
    if (dp->epsilon_per_query_micro <= 0 || dp->epsilon_per_query_micro > kMaxMicro) {
      return FieldError("differential_privacy.epsilon_per_query", "must be above 0 and at most {}",
                        FormatEpsilon(kMaxMicroEpsilon));
    }
    if (dp->budget_per_period_micro < dp->epsilon_per_query_micro ||
        dp->budget_per_period_micro > kMaxMicro) {
      return FieldError("differential_privacy.budget_per_period",
                        "must be at least epsilon_per_query and at most {}",
                        FormatEpsilon(kMaxMicroEpsilon));
    }
    if (dp->period != "month") {
      return FieldError("differential_privacy.period", "must be \"month\"");
    }
  }
  if (spec.recipients.empty()) return FieldError("recipients", "names no party");
  if (HasDuplicates(spec.recipients)) return FieldError("recipients", "lists a party twice");
  if (spec.worker_hosts.empty()) return FieldError("worker_hosts", "names no party");
  if (HasDuplicates(spec.worker_hosts)) return FieldError("worker_hosts", "lists a party twice");
  if (spec.attestation_modes.empty()) return FieldError("attestation_modes", "names no mode");
  if (HasDuplicates(spec.attestation_modes)) {
    return FieldError("attestation_modes", "lists a mode twice");
  }
  if (std::find(spec.attestation_modes.begin(), spec.attestation_modes.end(),
                AttestationMode::kNone) != spec.attestation_modes.end()) {
    return FieldError("attestation_modes",
                      "\"none\" is no attestation mode to accept (simulated, sgx-dcap)");
  }
  // 1970-01-01 to 9999-12-31, the range ParseGrantTime reads back.
  constexpr int64_t kLastSecond = int64_t{2932896} * 86400 - 1;
  if (spec.not_before < 0 || spec.not_before > kLastSecond) {
    return FieldError("not_before", "must be from 1970 to 9999");
  }
  if (spec.expires < 0 || spec.expires > kLastSecond) {
    return FieldError("expires", "must be from 1970 to 9999");
  }
  if (spec.expires <= spec.not_before) return FieldError("expires", "must be after not_before");
  return OkStatus();
}

StatusOr<std::string> NewGrantId() {
  if (sodium_init() < 0) return InternalError("libsodium cannot initialize");
  std::array<uint8_t, 8> bytes;
  randombytes_buf(bytes.data(), bytes.size());
  return "g_" + privacy::HexEncode({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
}

StatusOr<Grant> IssueGrant(const GrantSpec& spec, const PartyKey& key, int64_t created_at,
                           std::string id) {
  if (!IsGrantId(id)) return FieldError("grant_id", "must be \"g_\" and 16 lowercase hex digits");
  if (key.id() != spec.grantor) {
    return FieldError("grantor", "the signing key is not the grantor's ({})", key.id().ToString());
  }
  TESSERA_RETURN_IF_ERROR(ValidateGrantSpec(spec));
  constexpr int64_t kLastSecond = int64_t{2932896} * 86400 - 1;
  if (created_at < 0 || created_at > kLastSecond) {
    return FieldError("created_at", "must be from 1970 to 9999");
  }
  Grant grant{std::move(id), spec, created_at, {}};
  GrantSpec& s = grant.spec;
  s.allowed_fields = Sorted(std::move(s.allowed_fields));
  s.output_kinds = Sorted(std::move(s.output_kinds));
  s.recipients = Sorted(std::move(s.recipients));
  s.worker_hosts = Sorted(std::move(s.worker_hosts));
  s.attestation_modes = Sorted(std::move(s.attestation_modes));
  grant.signature = key.Sign(SignedGrantBytes(grant));
  return grant;
}

std::string SignedGrantBytes(const Grant& grant) { return Canonical(FieldsJson(grant)); }

std::string GrantToJson(const Grant& grant) {
  Json j = FieldsJson(grant);
  j["signature"] = privacy::HexEncode(
      {reinterpret_cast<const char*>(grant.signature.data()), grant.signature.size()});
  return Canonical(j);
}

StatusOr<Grant> ParseGrant(std::string_view json_text) {
  return ParseGrantDocument(json_text, true);
}

Status VerifyGrant(const Grant& grant, const PartyId& grantor) {
  if (grant.spec.grantor != grantor) {
    return InvalidArgumentError("grant {} is issued by {}, not by {}", grant.id,
                                grant.spec.grantor.ToString(), grantor.ToString());
  }
  if (!Verify(grantor, SignedGrantBytes(grant), grant.signature)) {
    return InvalidArgumentError(
        "grant {}: the signature is not its grantor's over these fields (changed or forged)",
        grant.id);
  }
  return OkStatus();
}

// --- GrantStore

namespace {

// Released migrations are never edited (tests/server/migrations_test.cc pins each by hash).
constexpr store::Migration kGrantMigrations[] = {
    // 1: grants issued and received, as signed (the canonical JSON without the signature, and
    // the signature), a few fields as columns to find them by; revocations beside them.
    {R"sql(CREATE TABLE collab_grants (
  seq         INTEGER PRIMARY KEY,
  grant_id    TEXT NOT NULL UNIQUE,
  direction   TEXT NOT NULL CHECK (direction IN ('issued', 'received')),
  grantor     TEXT NOT NULL,
  grantee     TEXT NOT NULL,
  purpose     TEXT NOT NULL,
  not_before  TEXT NOT NULL,
  expires     TEXT NOT NULL,
  signed_json TEXT NOT NULL,
  signature   BLOB NOT NULL,
  stored_at   TEXT NOT NULL
);
CREATE INDEX collab_grants_grantee ON collab_grants(grantee, purpose);
CREATE TABLE collab_grant_revocations (
  grant_id   TEXT PRIMARY KEY REFERENCES collab_grants(grant_id),
  revoked_at TEXT NOT NULL,
  reason     TEXT NOT NULL
);
)sql",
     R"sql(CREATE TABLE collab_grants (
  seq         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  grant_id    text        NOT NULL UNIQUE,
  direction   text        NOT NULL CHECK (direction IN ('issued', 'received')),
  grantor     text        NOT NULL,
  grantee     text        NOT NULL,
  purpose     text        NOT NULL,
  not_before  timestamptz NOT NULL,
  expires     timestamptz NOT NULL,
  signed_json text        NOT NULL,
  signature   bytea       NOT NULL,
  stored_at   timestamptz NOT NULL
);
CREATE INDEX collab_grants_grantee ON collab_grants(grantee, purpose);
CREATE TABLE collab_grant_revocations (
  grant_id   text        PRIMARY KEY REFERENCES collab_grants(grant_id),
  revoked_at timestamptz NOT NULL,
  reason     text        NOT NULL
);
)sql"},
};
constexpr store::Schema kGrantSchema{"collab.grants", kGrantMigrations};

// Strict UTF-8: no overlong forms, surrogates or values above U+10FFFF.
bool IsUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto b0 = static_cast<uint8_t>(s[i]);
    const int extra = b0 < 0x80                    ? 0
                      : (b0 >= 0xc2 && b0 <= 0xdf) ? 1
                      : (b0 >= 0xe0 && b0 <= 0xef) ? 2
                      : (b0 >= 0xf0 && b0 <= 0xf4) ? 3
                                                   : -1;
    if (extra < 0 || i + extra >= s.size()) return false;
    char32_t cp = extra == 0 ? b0 : b0 & (0x3f >> extra);
    for (int k = 1; k <= extra; ++k) {
      const auto b = static_cast<uint8_t>(s[i + k]);
      if ((b & 0xc0) != 0x80) return false;
      cp = cp << 6 | (b & 0x3f);
    }
    const char32_t min = extra == 1 ? 0x80 : extra == 2 ? 0x800 : extra == 3 ? 0x10000 : 0;
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

Status ValidateReason(std::string_view reason) {
  if (reason.size() > 200) return InvalidArgumentError("a revocation reason has up to 200 bytes");
  if (!IsUtf8(reason)) return InvalidArgumentError("a revocation reason is UTF-8 text");
  for (char c : reason) {
    if (static_cast<uint8_t>(c) < 0x20 || c == 0x7f) {
      return InvalidArgumentError("a revocation reason has no control characters");
    }
  }
  return OkStatus();
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

const store::Schema& GrantStore::Schema() { return kGrantSchema; }

std::string_view GrantDirectionName(GrantDirection direction) {
  return direction == GrantDirection::kIssued ? "issued" : "received";
}

Status GrantStore::Insert(const Grant& grant, GrantDirection direction) {
  const std::string signed_json = SignedGrantBytes(grant);
  const std::string grantor = grant.spec.grantor.ToString();
  const std::string grantee = grant.spec.grantee.ToString();
  const std::string not_before = FormatIsoTimestamp(grant.spec.not_before);
  const std::string expires = FormatIsoTimestamp(grant.spec.expires);
  const std::string_view signature(reinterpret_cast<const char*>(grant.signature.data()),
                                   grant.signature.size());
  const auto added = db_.Execute(
      "INSERT INTO collab_grants(grant_id, direction, grantor, grantee, purpose, not_before, "
      "expires, signed_json, signature, stored_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, " +
          db_.NowSql() + ")",
      {grant.id, GrantDirectionName(direction), grantor, grantee, PurposeName(grant.spec.purpose),
       not_before, expires, signed_json, store::SqlValue::Bytes(signature)});
  if (added.status().code() == StatusCode::kAlreadyExists) {
    return AlreadyExistsError("a grant {} is stored already", grant.id);
  }
  return added.status();
}

StatusOr<std::vector<StoredGrant>> GrantStore::Read(std::string_view where,
                                                    const std::string& grant_id) {
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kGrantSchema));
  std::vector<StoredGrant> out;
  const std::string sql =
      "SELECT g.grant_id, g.direction, g.signed_json, g.signature, " +
      db_.IsoTimestampSql("g.stored_at") + ", " + db_.IsoTimestampSql("r.revoked_at") +
      ", r.reason FROM collab_grants g LEFT JOIN collab_grant_revocations r ON r.grant_id = "
      "g.grant_id " +
      std::string(where) + " ORDER BY g.seq";
  const auto read = [&](const store::SqlRow& row) -> Status {
    const std::string id = row.Text(0);
    const auto damaged = [&](std::string_view what) {
      return DataLossError("{}: the stored grant {} is damaged: {}", db_.Describe(), id, what);
    };
    auto grant = ParseGrantDocument(row.Text(2), false);
    if (!grant.ok()) return damaged(grant.status().message());
    const std::string signature = row.Bytes(3);
    if (grant->id != id || signature.size() != grant->signature.size()) {
      return damaged("its id or signature does not fit");
    }
    std::copy(signature.begin(), signature.end(), grant->signature.begin());
    if (!VerifyGrant(*grant, grant->spec.grantor).ok()) {
      return damaged("the signature does not verify");
    }
    const std::string direction = row.Text(1);
    StoredGrant stored{
        std::move(*grant),
        direction == "received" ? GrantDirection::kReceived : GrantDirection::kIssued, row.Text(4),
        std::nullopt};
    if (!row.IsNull(5)) stored.revocation = GrantRevocation{row.Text(5), row.Text(6)};
    out.push_back(std::move(stored));
    return OkStatus();
  };
  if (grant_id.empty()) {
    TESSERA_RETURN_IF_ERROR(db_.Query(sql, {}, read));
  } else {
    TESSERA_RETURN_IF_ERROR(db_.Query(sql, {grant_id}, read));
  }
  return out;
}

StatusOr<Grant> GrantStore::Create(const GrantSpec& spec, const PartyKey& key) {
  TESSERA_ASSIGN_OR_RETURN(std::string id, NewGrantId());
  const int64_t now = NowSeconds();
  TESSERA_ASSIGN_OR_RETURN(Grant grant, IssueGrant(spec, key, now, std::move(id)));
  if (grant.spec.expires <= now) {
    return FieldError("expires", "is in the past ({})", FormatIsoTimestamp(grant.spec.expires));
  }
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kGrantSchema));
  TESSERA_RETURN_IF_ERROR(Insert(grant, GrantDirection::kIssued));
  return grant;
}

StatusOr<StoredGrant> GrantStore::Import(std::string_view grant_json,
                                         const Collaboration& collaboration, const PartyId& self) {
  TESSERA_ASSIGN_OR_RETURN(const Grant grant, ParseGrant(grant_json));
  if (grant.spec.grantor == self) {
    return InvalidArgumentError("grant {} is this party's own: it is kept when created", grant.id);
  }
  if (grant.spec.grantee != self) {
    return InvalidArgumentError("grant {} is for the party {}, not this one ({})", grant.id,
                                grant.spec.grantee.ToString(), self.ToString());
  }
  const CollaborationParty* grantor = collaboration.Find(grant.spec.grantor);
  if (grantor == nullptr) {
    return FailedPreconditionError(
        "grant {} is issued by {}, which is no party of the collaboration file", grant.id,
        grant.spec.grantor.ToString());
  }
  if (!grantor->HasRole(PartyRole::kDataOwner)) {
    return FailedPreconditionError(
        "grant {} is issued by {}, which is no data_owner in the collaboration file", grant.id,
        grantor->name);
  }
  TESSERA_RETURN_IF_ERROR(VerifyGrant(grant, grantor->id));
  TESSERA_RETURN_IF_ERROR(db_.Migrate(kGrantSchema));
  const Status inserted = Insert(grant, GrantDirection::kReceived);
  if (!inserted.ok() && inserted.code() != StatusCode::kAlreadyExists) return inserted;
  TESSERA_ASSIGN_OR_RETURN(StoredGrant stored, Show(grant.id));
  if (stored.grant != grant || stored.direction != GrantDirection::kReceived) {
    return AlreadyExistsError("another grant {} is stored already", grant.id);
  }
  return stored;
}

StatusOr<std::vector<StoredGrant>> GrantStore::List() { return Read("", ""); }

StatusOr<StoredGrant> GrantStore::Show(std::string_view grant_id) {
  if (!IsGrantId(grant_id)) {
    return NotFoundError("no grant {}: a grant id is \"g_\" and 16 lowercase hex digits",
                         grant_id.substr(0, 40));
  }
  TESSERA_ASSIGN_OR_RETURN(std::vector<StoredGrant> found,
                           Read("WHERE g.grant_id = $1", std::string(grant_id)));
  if (found.empty()) return NotFoundError("no grant {}", grant_id);
  return std::move(found.front());
}

StatusOr<bool> GrantStore::Revoke(std::string_view grant_id, std::string_view reason) {
  TESSERA_RETURN_IF_ERROR(ValidateReason(reason));
  TESSERA_RETURN_IF_ERROR(Show(grant_id).status());
  TESSERA_ASSIGN_OR_RETURN(
      const uint64_t added,
      db_.Execute(
          "INSERT INTO collab_grant_revocations(grant_id, revoked_at, reason) VALUES ($1, " +
              db_.NowSql() + ", $2) ON CONFLICT (grant_id) DO NOTHING",
          {grant_id, reason}));
  return added == 1;
}

// --- The strictest grant wins

StatusOr<EffectivePolicy> CombineGrants(std::span<const StoredGrant> grants,
                                        const PolicyRequest& request) {
  if (grants.empty()) {
    return Refuse(GrantRefusal::kNoGrant, "",
                  fmt::format("no grant allows {}", PurposeName(request.purpose)));
  }
  for (const StoredGrant& stored : grants) {
    const Grant& g = stored.grant;
    if (stored.revocation) {
      return Refuse(GrantRefusal::kRevoked, g.id,
                    fmt::format("grant {} was revoked at {}", g.id, stored.revocation->revoked_at));
    }
    if (g.spec.grantee != request.requester) {
      return Refuse(
          GrantRefusal::kWrongGrantee, g.id,
          fmt::format("grant {} is for another party than {}", g.id, request.requester.ToString()));
    }
    if (g.spec.purpose != request.purpose) {
      return Refuse(GrantRefusal::kPurposeNotAllowed, g.id,
                    fmt::format("grant {} allows {}, not {}", g.id, PurposeName(g.spec.purpose),
                                PurposeName(request.purpose)));
    }
    if (request.now < g.spec.not_before) {
      return Refuse(
          GrantRefusal::kNotYetValid, g.id,
          fmt::format("grant {} is valid from {}", g.id, FormatIsoTimestamp(g.spec.not_before)));
    }
    if (request.now >= g.spec.expires) {
      return Refuse(
          GrantRefusal::kExpired, g.id,
          fmt::format("grant {} expired at {}", g.id, FormatIsoTimestamp(g.spec.expires)));
    }
  }

  const GrantSpec& first = grants.front().grant.spec;
  EffectivePolicy p;
  p.purpose = request.purpose;
  p.allowed_fields = Sorted(first.allowed_fields);
  p.output_kinds = Sorted(first.output_kinds);
  p.recipients = Sorted(first.recipients);
  p.worker_hosts = Sorted(first.worker_hosts);
  p.attestation_modes = Sorted(first.attestation_modes);
  p.k_min = first.k_min;
  p.not_before = first.not_before;
  p.expires = first.expires;
  for (const StoredGrant& stored : grants) {
    const GrantSpec& s = stored.grant.spec;
    p.grant_ids.push_back(stored.grant.id);
    p.allowed_fields = Intersect(p.allowed_fields, s.allowed_fields);
    p.output_kinds = Intersect(p.output_kinds, s.output_kinds);
    p.recipients = Intersect(p.recipients, s.recipients);
    p.worker_hosts = Intersect(p.worker_hosts, s.worker_hosts);
    p.attestation_modes = Intersect(p.attestation_modes, s.attestation_modes);
    p.k_min = std::max(p.k_min, s.k_min);
    p.not_before = std::max(p.not_before, s.not_before);
    p.expires = std::min(p.expires, s.expires);
    p.predicates.max_category_depth =
        MinSet(p.predicates.max_category_depth, s.predicates.max_category_depth);
    p.predicates.max_breakdown_attributes =
        MinSet(p.predicates.max_breakdown_attributes, s.predicates.max_breakdown_attributes);
    if (s.differential_privacy) {
      if (!p.differential_privacy) {
        p.differential_privacy = s.differential_privacy;
      } else {
        DpPolicy& dp = *p.differential_privacy;
        dp.epsilon_per_query_micro =
            std::min(dp.epsilon_per_query_micro, s.differential_privacy->epsilon_per_query_micro);
        dp.budget_per_period_micro =
            std::min(dp.budget_per_period_micro, s.differential_privacy->budget_per_period_micro);
      }
    }
  }
  std::string ids;
  for (const std::string& id : p.grant_ids) ids += (ids.empty() ? "" : ", ") + id;
  if (p.allowed_fields.empty() && request.purpose != Purpose::kOverlap) {
    return Refuse(GrantRefusal::kNoCommonFields, "",
                  fmt::format("grants {} allow no field in common", ids));
  }
  if (p.output_kinds.empty()) {
    return Refuse(GrantRefusal::kNoCommonOutputKinds, "",
                  fmt::format("grants {} allow no output kind in common", ids));
  }
  if (p.recipients.empty()) {
    return Refuse(GrantRefusal::kNoCommonRecipients, "",
                  fmt::format("grants {} allow no recipient in common", ids));
  }
  if (p.worker_hosts.empty()) {
    return Refuse(GrantRefusal::kNoCommonWorkerHosts, "",
                  fmt::format("grants {} accept no worker host in common", ids));
  }
  if (p.attestation_modes.empty()) {
    return Refuse(GrantRefusal::kNoCommonAttestationModes, "",
                  fmt::format("grants {} accept no attestation mode in common", ids));
  }
  return p;
}

}  // namespace tessera::collab
