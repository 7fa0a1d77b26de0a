#include "server/grant_json.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/common/civil_time.h"
#include "tessera/common/duration.h"

namespace tessera::server::internal {
namespace {

using Json = nlohmann::ordered_json;

template <typename... Args>
Status FieldError(std::string_view field, fmt::format_string<Args...> format, Args&&... args) {
  Status s =
      InvalidArgumentError("{}: {}", field, fmt::format(format, std::forward<Args>(args)...));
  s.SetDetail("field", std::string(field));
  return s;
}

// A library error about one member, named as that member.
Status AsField(std::string_view field, const Status& s) {
  return FieldError(field, "{}", s.message());
}

StatusOr<std::string> Text(const Json& body, std::string_view field) {
  const auto it = body.find(field);
  if (it == body.end() || !it->is_string()) return FieldError(field, "required, as a string");
  return it->get<std::string>();
}

// A member that is a list of strings; absent: nullopt.
StatusOr<std::optional<std::vector<std::string>>> TextList(const Json& body,
                                                           std::string_view field) {
  const auto it = body.find(field);
  if (it == body.end()) return std::optional<std::vector<std::string>>();
  if (!it->is_array()) return FieldError(field, "must be a list of strings");
  std::vector<std::string> out;
  for (const Json& item : *it) {
    if (!item.is_string()) return FieldError(field, "must be a list of strings");
    out.push_back(item.get<std::string>());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

StatusOr<std::optional<int64_t>> Integer(const Json& object, std::string_view field,
                                         std::string_view name) {
  const auto it = object.find(name);
  if (it == object.end()) return std::optional<int64_t>();
  if (!it->is_number_integer()) return FieldError(field, "must be a whole number");
  return std::optional<int64_t>(it->get<int64_t>());
}

Status OnlyMembers(const Json& object, std::string_view field,
                   std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      std::string names;
      for (auto a : allowed) names += (names.empty() ? "" : ", ") + std::string(a);
      const std::string where = field.empty() ? k : fmt::format("{}.{}", field, k);
      return FieldError(where, "unknown member (known: {})", names);
    }
  }
  return OkStatus();
}

// A party by its id, or by its name in the collaboration file.
StatusOr<collab::PartyId> PartyNamed(const std::string& text,
                                     const collab::Collaboration* collaboration,
                                     std::string_view field) {
  if (text.starts_with(collab::PartyId::kPrefix)) {
    auto id = collab::PartyId::Parse(text);
    if (!id.ok()) return AsField(field, id.status());
    return *id;
  }
  if (collaboration != nullptr) {
    if (const auto* p = collaboration->FindByName(text)) return p->id;
  }
  return FieldError(field,
                    "'{}' is neither a party id (tp1:...) nor a party of the collaboration file",
                    text.substr(0, 64));
}

StatusOr<std::vector<collab::PartyId>> Parties(const std::vector<std::string>& names,
                                               const collab::Collaboration* collaboration,
                                               std::string_view field) {
  std::vector<collab::PartyId> out;
  for (const auto& n : names) {
    TESSERA_ASSIGN_OR_RETURN(auto id, PartyNamed(n, collaboration, field));
    out.push_back(id);
  }
  return out;
}

// The end of the grant's last day (UTC): "expires" names it, or "valid_for" counts from today.
StatusOr<int64_t> Expiry(const Json& body, int64_t now) {
  const bool has_expires = body.contains("expires"), has_valid_for = body.contains("valid_for");
  if (has_expires && has_valid_for) {
    return FieldError("valid_for", "give expires or valid_for, not both");
  }
  if (has_expires) {
    TESSERA_ASSIGN_OR_RETURN(const std::string text, Text(body, "expires"));
    auto day = ParseIsoDate(text);
    if (!day.ok()) return AsField("expires", day.status());
    return (*day + 1) * 86400 - 1;
  }
  std::string valid_for = "90d";
  if (has_valid_for) {
    TESSERA_ASSIGN_OR_RETURN(valid_for, Text(body, "valid_for"));
  }
  auto d = Duration::Parse(valid_for);
  if (!d.ok()) return AsField("valid_for", d.status());
  const int64_t today = DayOfTimestamp(now);
  const int64_t last = d->months() > 0 ? AddMonths(today, d->months()) : today + d->days();
  return (last + 1) * 86400 - 1;
}

}  // namespace

std::string_view GrantState(const collab::StoredGrant& grant, int64_t now) {
  if (grant.revocation) return "revoked";
  if (now >= grant.grant.spec.expires) return "expired";
  if (now < grant.grant.spec.not_before) return "not_yet_valid";
  return "active";
}

Json StoredGrantJson(const collab::StoredGrant& grant, int64_t now) {
  Json j = Json::parse(collab::GrantToJson(grant.grant));
  j["direction"] = collab::GrantDirectionName(grant.direction);
  j["stored_at"] = grant.stored_at;
  j["revoked"] = grant.revocation ? Json{{"at", grant.revocation->revoked_at},
                                         {"reason", grant.revocation->reason}}
                                  : Json();
  j["state"] = GrantState(grant, now);
  return j;
}

StatusOr<collab::GrantSpec> GrantSpecFromJson(const Json& body,
                                              const collab::Collaboration* collaboration,
                                              const collab::PartyId& self, int64_t now) {
  if (!body.is_object()) return FieldError("body", "the body must be a JSON object");
  TESSERA_RETURN_IF_ERROR(OnlyMembers(
      body, "",
      {"partner", "purpose", "output_kinds", "allowed_fields", "k_min", "differential_privacy",
       "predicates", "recipients", "worker_hosts", "attestation_modes", "expires", "valid_for"}));
  TESSERA_ASSIGN_OR_RETURN(const std::string partner, Text(body, "partner"));
  TESSERA_ASSIGN_OR_RETURN(const collab::PartyId grantee,
                           PartyNamed(partner, collaboration, "partner"));
  collab::GrantSpec spec{self, grantee};

  TESSERA_ASSIGN_OR_RETURN(const std::string purpose, Text(body, "purpose"));
  auto parsed_purpose = collab::ParsePurpose(purpose);
  if (!parsed_purpose.ok()) return AsField("purpose", parsed_purpose.status());
  spec.purpose = *parsed_purpose;

  TESSERA_ASSIGN_OR_RETURN(auto outputs, TextList(body, "output_kinds"));
  if (!outputs) return FieldError("output_kinds", "required, as a list of strings");
  for (const auto& o : *outputs) {
    auto kind = collab::ParseOutputKind(o);
    if (!kind.ok()) return AsField("output_kinds", kind.status());
    spec.output_kinds.push_back(*kind);
  }

  TESSERA_ASSIGN_OR_RETURN(auto fields, TextList(body, "allowed_fields"));
  if (fields) spec.allowed_fields = std::move(*fields);

  TESSERA_ASSIGN_OR_RETURN(auto k_min, Integer(body, "k_min", "k_min"));
  if (k_min) spec.k_min = *k_min;

  if (const auto dp = body.find("differential_privacy"); dp != body.end() && !dp->is_null()) {
    constexpr std::string_view kDp = "differential_privacy";
    if (!dp->is_object()) return FieldError(kDp, "must be an object");
    TESSERA_RETURN_IF_ERROR(OnlyMembers(*dp, kDp, {"epsilon_per_query", "budget_per_period"}));
    collab::DpPolicy policy;
    for (const auto& [name, micro] : {std::pair<std::string_view, int64_t*>{
                                          "epsilon_per_query", &policy.epsilon_per_query_micro},
                                      std::pair<std::string_view, int64_t*>{
                                          "budget_per_period", &policy.budget_per_period_micro}}) {
      const std::string field = fmt::format("{}.{}", kDp, name);
      const auto it = dp->find(name);
      if (it == dp->end() || !it->is_string()) {
        return FieldError(field, "required, as a decimal string like \"0.5\"");
      }
      auto eps = collab::ParseEpsilon(it->get<std::string>());
      if (!eps.ok()) return AsField(field, eps.status());
      *micro = static_cast<int64_t>(*eps);
    }
    spec.differential_privacy = policy;
  }

  if (const auto p = body.find("predicates"); p != body.end()) {
    if (!p->is_object()) return FieldError("predicates", "must be an object");
    TESSERA_RETURN_IF_ERROR(
        OnlyMembers(*p, "predicates", {"max_category_depth", "max_breakdown_attributes"}));
    TESSERA_ASSIGN_OR_RETURN(spec.predicates.max_category_depth,
                             Integer(*p, "predicates.max_category_depth", "max_category_depth"));
    TESSERA_ASSIGN_OR_RETURN(
        spec.predicates.max_breakdown_attributes,
        Integer(*p, "predicates.max_breakdown_attributes", "max_breakdown_attributes"));
  }

  TESSERA_ASSIGN_OR_RETURN(auto recipients, TextList(body, "recipients"));
  if (recipients) {
    TESSERA_ASSIGN_OR_RETURN(spec.recipients, Parties(*recipients, collaboration, "recipients"));
  } else {
    spec.recipients = {grantee};
  }
  TESSERA_ASSIGN_OR_RETURN(auto hosts, TextList(body, "worker_hosts"));
  if (hosts) {
    TESSERA_ASSIGN_OR_RETURN(spec.worker_hosts, Parties(*hosts, collaboration, "worker_hosts"));
  } else {
    spec.worker_hosts = {self};  // by default the worker runs here
  }
  TESSERA_ASSIGN_OR_RETURN(auto modes, TextList(body, "attestation_modes"));
  for (const auto& m : modes ? *modes : std::vector<std::string>{"simulated"}) {
    auto mode = collab::ParseAttestationMode(m);
    if (!mode.ok()) return AsField("attestation_modes", mode.status());
    spec.attestation_modes.push_back(*mode);
  }

  spec.not_before = now;
  TESSERA_ASSIGN_OR_RETURN(spec.expires, Expiry(body, now));
  return spec;
}

}  // namespace tessera::server::internal
