// The OpenAPI 3.0 description of the API served at /api/v1/openapi.json (docs/api.md is
// the prose version).

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "tessera/analytics/profile_rows.h"

namespace tessera::server {
namespace {

using Json = nlohmann::ordered_json;

Json Param(const char* name, const char* in, const char* type, const char* description,
           bool required = false) {
  return {{"name", name},
          {"in", in},
          {"required", required},
          {"description", description},
          {"schema", {{"type", type}}}};
}

Json Enum(const char* name, std::initializer_list<const char*> values, const char* description) {
  Json p = Param(name, "query", "string", description);
  p["schema"]["enum"] = Json::array();
  for (const char* v : values) p["schema"]["enum"].push_back(v);
  return p;
}

Json Range(const char* name, int lo, int hi, const char* description) {
  Json p = Param(name, "query", "integer", description);
  p["schema"]["minimum"] = lo;
  p["schema"]["maximum"] = hi;
  return p;
}

Json Responses(const char* ok, bool csv, bool with_auth = true) {
  Json r;
  Json content = {{"application/json", {{"schema", {{"type", "object"}}}}}};
  if (csv) content["text/csv"] = {{"schema", {{"type", "string"}}}};
  r["200"] = {{"description", ok}, {"content", content}};
  r["304"] = {{"description", "not modified (If-None-Match matched the ETag)"}};
  r["400"] = {{"$ref", "#/components/responses/Error"}};
  if (with_auth) {
    r["401"] = {{"$ref", "#/components/responses/Error"}};
    r["403"] = {{"$ref", "#/components/responses/Error"}};
    // Too many wrong keys from the caller's address (Retry-After).
    r["429"] = {{"$ref", "#/components/responses/Error"}};
  }
  r["404"] = {{"$ref", "#/components/responses/Error"}};
  return r;
}

// ?sort= of /api/v1/profiles, with every value it takes.
Json SortParam() {
  Json p = Param("sort", "query", "string",
                 "order of the listing: a field, ascending, or with a leading - descending; "
                 "equal values in customer order (default: customer order)");
  p["schema"]["enum"] = Json::array();
  for (const std::string& v : analytics::ProfileSort::Allowed()) p["schema"]["enum"].push_back(v);
  return p;
}

Json Get(const char* summary, const char* role, Json params, Json responses) {
  Json op;
  op["summary"] = summary;
  op["description"] = std::string("Needs a key of role ") + role + " or above.";
  op["parameters"] = std::move(params);
  op["responses"] = std::move(responses);
  return op;
}

}  // namespace

std::string OpenApiDocument() {
  const Json snapshot = Param("snapshot", "query", "string", "latest (default) or a snapshot id");
  const Json lang = Enum("lang", {"en", "de"}, "language of segment names (default en)");
  const Json format = Enum("format", {"json", "csv"}, "json (default) or csv (RFC 4180)");
  const Json dialect = Enum("dialect", {"rfc4180", "de"},
                            "with format=csv: rfc4180 (default) or de for German Excel and "
                            "Sheets (; separator, decimal comma, German headers, UTF-8 BOM)");
  // Predictive CLV on request, as `tessera profiles --predict`.
  Json horizon = Param("horizon_months", "query", "number",
                       "with predict: prediction horizon in months (0 to 1200, default 12)");
  horizon["schema"]["minimum"] = 0;
  horizon["schema"]["maximum"] = 1200;
  Json discount =
      Param("discount", "query", "number",
            "with predict: annual discount rate of predicted CLV (0 to 10, default 0.1)");
  discount["schema"]["minimum"] = 0;
  discount["schema"]["maximum"] = 10;
  const Json predict = Enum("predict", {"bgnbd", "pnbd"},
                            "add P(alive), expected purchases and predicted CLV: BG/NBD or "
                            "Pareto/NBD with Gamma-Gamma, fitted on the purchases up to the "
                            "snapshot's as-of date");
  Json doc;
  doc["openapi"] = "3.0.3";
  doc["info"] = {{"title", "Tessera API"},
                 {"version", "1"},
                 {"description",
                  "Pseudonymous customer segments, profiles and snapshots for BI tools. "
                  "Amounts are decimal strings in the snapshot's currency; customers are "
                  "UUID pseudonyms. See docs/api.md."}};
  doc["servers"] = {{{"url", "/"}}};
  doc["security"] = {{{"bearer", Json::array()}}, {{"queryKey", Json::array()}}};
  auto& p = doc["paths"];
  Json none = Json::array();
  p["/api/v1/health"]["get"] = {{"summary", "The process is up"},
                                {"security", Json::array()},
                                {"responses", {{"200", {{"description", "ok"}}}}}};
  p["/api/v1/ready"]["get"] = {
      {"summary", "The store can be read"},
      {"security", Json::array()},
      {"responses",
       {{"200", {{"description", "ready"}}}, {"503", {{"$ref", "#/components/responses/Error"}}}}}};
  p["/api/v1/openapi.json"]["get"] = {{"summary", "This document"},
                                      {"security", Json::array()},
                                      {"responses", {{"200", {{"description", "OpenAPI 3"}}}}}};
  p["/api/v1/segments"]["get"] =
      Get("Segment statistics of a snapshot", "viewer",
          {snapshot, lang, format, dialect, predict, horizon, discount},
          Responses(
              "group, uuid_count, avg_order_count, avg_clv, avg_recency_days, "
              "share_percent, sum_clv, sum_order_count, median_clv per segment; with predict also "
              "avg_p_alive and avg_predicted_clv",
              true));
  p["/api/v1/snapshots"]["get"] =
      Get("Every kept snapshot, oldest first", "viewer", none, Responses("snapshots", false));
  p["/api/v1/snapshots"]["post"] = {
      {"summary", "Recompute now and keep a new snapshot"},
      {"description", "Needs an admin key. Body: {\"window\": \"24m\", \"as_of\": \"YYYY-MM-DD\"}"},
      {"requestBody",
       {{"required", false},
        {"content",
         {{"application/json",
           {{"schema",
             {{"type", "object"},
              {"properties",
               {{"window", {{"type", "string"}}},
                {"as_of", {{"type", "string"}, {"format", "date"}}},
                {"currency", {{"type", "string"}}},
                {"lang", {{"type", "string"}}}}}}}}}}}}},
      {"responses",
       {{"201", {{"description", "the new snapshot's segments"}}},
        {"400", {{"$ref", "#/components/responses/Error"}}},
        {"401", {{"$ref", "#/components/responses/Error"}}},
        {"403", {{"$ref", "#/components/responses/Error"}}}}}};
  p["/api/v1/snapshots/{id}/segments"]["get"] =
      Get("Segment statistics of snapshot {id}", "viewer",
          {Param("id", "path", "integer", "snapshot id", true), lang, format, dialect, predict,
           horizon, discount},
          Responses("as /api/v1/segments", true));
  p["/api/v1/migration"]["get"] = Get(
      "Customers moving between the segments of two snapshots", "viewer",
      {Param("from", "query", "integer", "older snapshot (default: second newest)"),
       Param("to", "query", "integer", "newer snapshot (default: newest)"), lang, format, dialect},
      Responses("moves: from_key, to_key (null = new / gone), customers", true));
  p["/api/v1/segments/definitions"]["get"] =
      Get("How a snapshot's segments are defined: its rules, first match wins, and what each score "
          "meant in it",
          "viewer", {snapshot, lang, format, dialect},
          Responses("segments [{position, key, group, name_en, name_de, recency, frequency, "
                    "monetary ({min, max} scores), unless (keys of earlier rules that take some of "
                    "its customers first), score_combinations, takes, uuid_count, rule_en, "
                    "rule_de}], scores {recency, frequency, monetary: bands [{score, customers, "
                    "min, max}]}, rules_recorded, score_formula (JSON); one row per segment (CSV)",
                    true));
  p["/api/v1/distributions"]["get"] =
      Get("Histograms of CLV, order count and recency; the R x F grid", "viewer",
          {snapshot, Range("bins", 1, 200, "bins per histogram (default 20)")},
          Responses("histograms and rf_grid", false));
  p["/api/v1/profiles"]["get"] = Get(
      "Per-customer profiles, paginated", "analyst",
      {snapshot, lang, format, dialect, Param("segment", "query", "string", "segment key or name"),
       Range("r_min", 1, 5, "lowest R score"), Range("r_max", 1, 5, "highest R score"),
       Range("f_min", 1, 5, "lowest F score"), Range("f_max", 1, 5, "highest F score"),
       Range("m_min", 1, 5, "lowest M score"), Range("m_max", 1, 5, "highest M score"),
       Range("limit", 1, 1000, "items per page (default 100)"),
       Param("cursor", "query", "string", "next_cursor of the previous page"), SortParam(), predict,
       horizon, discount},
      Responses("total, items, next_cursor, next (JSON); every matching row (CSV); with "
                "predict each also has p_alive, expected_purchases, predicted_clv",
                true));
  p["/api/v1/profiles/{uuid}"]["get"] =
      Get("One customer's profile", "analyst",
          {Param("uuid", "path", "string", "the customer's pseudonym", true), snapshot, lang,
           predict, horizon, discount},
          Responses("the profile", false));
  p["/api/v1/ingest"]["post"] = {
      {"summary", "Upload an order file and load it"},
      {"description",
       "Needs an admin key and a server started with the owner's key. The body is the file "
       "(CSV, JSON Lines, optionally gzip), streamed to disk."},
      {"parameters",
       {Param(
            "mapping", "query", "string",
            "mapping preset (default: the shop export the header is recognized as, else generic)"),
        Param("name", "query", "string", "the file's name, for reject reports")}},
      {"requestBody",
       {{"required", true},
        {"content",
         {{"application/octet-stream",
           {{"schema", {{"type", "string"}, {"format", "binary"}}}}}}}}},
      {"responses",
       {{"201", {{"description", "load summary and rejected rows"}}},
        {"400", {{"$ref", "#/components/responses/Error"}}},
        {"401", {{"$ref", "#/components/responses/Error"}}},
        {"403", {{"$ref", "#/components/responses/Error"}}},
        {"413", {{"$ref", "#/components/responses/Error"}}}}}};
  p["/api/v1/sources/{name}/webhook"]["post"] = {
      {"summary", "An order webhook of a Shopify or WooCommerce source: load that order"},
      {"description",
       "No API key: the shop signs the delivery. X-Shopify-Hmac-Sha256 (Shopify) or "
       "X-WC-Webhook-Signature (WooCommerce) must be base64(HMAC-SHA256(webhook secret, raw "
       "body)), checked before the body is read. WooCommerce's unsigned ping (exactly "
       "webhook_id=N) answers 200 with ping true and loads nothing. Needs a server started with "
       "the owner's key (docs/ingest.md, "
       "\"Order webhooks\")."},
      {"security", Json::array()},
      {"parameters",
       {Param("name", "path", "string", "the source's name (tessera source add)", true)}},
      {"requestBody",
       {{"required", true},
        {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}}},
      {"responses",
       {{"200", {{"description", "source, ping, orders_stored (0: stored before), rejects"}}},
        {"400", {{"$ref", "#/components/responses/Error"}}},
        {"401", {{"$ref", "#/components/responses/Error"}}},
        {"404", {{"$ref", "#/components/responses/Error"}}},
        {"409", {{"$ref", "#/components/responses/Error"}}},
        {"413", {{"$ref", "#/components/responses/Error"}}}}}};
  p["/api/v1/sources"]["get"] =
      Get("The sources (shops, watched folders): kind, name, where each reads from, and its last 5 "
          "runs (started, finished, trigger, outcome ok|refused|failed|running, orders stored, "
          "rejects, files, error). Never a credential; where credentials are kept, to admins only",
          "analyst", none, Responses("sources", false));
  p["/api/v1/loads"]["get"] =
      Get("Ingest runs with their summaries", "admin", none, Responses("loads", false));
  p["/api/v1/loads/{id}/rejects"]["get"] = Get(
      "The rejected rows of an ingest run (file, line, column, reason; never values)", "admin",
      {Param("id", "path", "integer", "load id", true), format}, Responses("rejected rows", true));
  p["/api/v1/schedule"]["get"] =
      Get("serve --schedule: the daily times, the next run, the run in progress and the last runs",
          "viewer", none, Responses("the schedule", false));
  // Audiences (docs/audiences.md, "API").
  const Json name =
      Param("name", "path", "string",
            "the audience's name, URL-encoded (blanks, '/' and non-ASCII allowed)", true);
  auto body = [](Json properties, std::vector<std::string> required) {
    Json b = {{"required", true},
              {"content",
               {{"application/json",
                 {{"schema", {{"type", "object"}, {"properties", std::move(properties)}}}}}}}};
    b["content"]["application/json"]["schema"]["required"] = std::move(required);
    return b;
  };
  const Json text = {{"type", "string"}};
  auto op = [](const char* summary, const char* role, Json params, Json request, Json responses) {
    Json o = Get(summary, role, std::move(params), std::move(responses));
    if (!request.is_null()) o["requestBody"] = std::move(request);
    return o;
  };
  auto responses = [](std::initializer_list<std::pair<const char*, const char*>> codes) {
    Json r;
    for (const auto& [code, what] : codes) {
      r[code] = what[0] == '#' ? Json{{"$ref", what}} : Json{{"description", what}};
    }
    return r;
  };
  const char* kErr = "#/components/responses/Error";
  const char* kNoSnapshot =
      "no snapshot yet (code no_snapshot): create one with `tessera snapshots create` or POST "
      "/api/v1/snapshots";
  p["/api/v1/audiences/schema"]["get"] =
      Get("What expressions can use: segments, numbers with units, attribute values, windows",
          "viewer", {lang},
          responses({{"200",
                      "snapshot_id, as_of, window, currency, customers, has_predictions, "
                      "segments [{key, name}], numbers [{name, unit: money|count|days|score|"
                      "probability}], attributes {name: [values]}, windows"},
                     {"400", kErr},
                     {"401", kErr},
                     {"403", kErr},
                     {"409", kNoSnapshot}}));
  p["/api/v1/audiences/categories"]["get"] =
      Get("Product categories for bought(): case-insensitive substring match on the path", "viewer",
          {Param("q", "query", "string", "text to find in the path; empty: the top level"),
           Range("limit", 1, 500, "categories listed (default 50)")},
          responses({{"200",
                      "total (matches) and categories [{path, name, depth (1 = top level), "
                      "customers (buyers in the whole window, node or below)}]: names starting "
                      "with q first, then by customers"},
                     {"400", kErr},
                     {"401", kErr},
                     {"403", kErr},
                     {"409", kNoSnapshot}}));
  const Json count_responses = responses(
      {{"200",
        "expression, snapshot_id, as_of, window, size, customers, share_percent, segments "
        "[{key, name, customers}], without_purchases, millis (time the server took)"},
       {"400",
        "an invalid expression: the error has code invalid_expression, column (1-based), and "
        "expected and suggestion where there are some"},
       {"401", kErr},
       {"403", kErr},
       {"409", kNoSnapshot}});
  p["/api/v1/audiences/count"]["post"] =
      op("Size of an audience, its share of all customers and its segments", "viewer", {lang},
         body({{"expression", text}}, {"expression"}), count_responses);
  p["/api/v1/audiences/count"]["get"] =
      Get("Size of an audience (the expression in the query)", "viewer",
          {Param("expression", "query", "string", "the audience expression", true), lang},
          count_responses);
  p["/api/v1/audiences/overlap"]["post"] =
      op("Customers in each pair of audiences, in all and in any", "viewer", none,
         body({{"expressions",
                {{"type", "array"}, {"items", text}, {"minItems", 2}, {"maxItems", 20}}}},
              {"expressions"}),
         responses({{"200", "expressions, sizes, pairwise [[...]], in_all, in_any, customers"},
                    {"400",
                     "an invalid expression: as count, with expression_index (1-based) "
                     "naming which"},
                    {"401", kErr},
                    {"403", kErr},
                    {"409", kNoSnapshot}}));
  p["/api/v1/audiences"]["get"] =
      Get("Saved audiences with their size on the newest snapshot", "viewer", none,
          responses({{"200",
                      "[{name, expression, size (null when it no longer parses), error, "
                      "created_at, updated_at}]"},
                     {"401", kErr},
                     {"403", kErr},
                     {"409", kNoSnapshot}}));
  p["/api/v1/audiences"]["post"] =
      op("Save a named audience", "analyst", none,
         body({{"name", text}, {"expression", text}}, {"name", "expression"}),
         responses({{"201", "{name, expression, size, snapshot_id}; Location: its URL"},
                    {"400", "an invalid name or expression (as count)"},
                    {"401", kErr},
                    {"403", kErr},
                    {"409", "the name exists (or no snapshot yet)"}}));
  p["/api/v1/audiences/{name}"]["get"] =
      Get("A saved audience with its size now and its history", "viewer", {name},
          responses({{"200",
                      "name, expression, created_at, updated_at, snapshot_id, size, history "
                      "[{seq, at, event, expression, size, snapshot_id}]"},
                     {"401", kErr},
                     {"403", kErr},
                     {"404", "no audience of that name"},
                     {"409", kNoSnapshot}}));
  p["/api/v1/audiences/{name}"]["put"] =
      op("Change a saved audience's expression", "analyst", {name},
         body({{"expression", text}}, {"expression"}),
         responses({{"200", "{name, expression, size, snapshot_id}"},
                    {"400", "an invalid expression (as count)"},
                    {"401", kErr},
                    {"403", kErr},
                    {"404", "no audience of that name"},
                    {"409", kNoSnapshot}}));
  p["/api/v1/audiences/{name}"]["delete"] = Get(
      "Delete a saved audience (its history is kept)", "analyst", {name},
      responses(
          {{"204", "deleted"}, {"401", kErr}, {"403", kErr}, {"404", "no audience of that name"}}));
  Json export_ok = {{"description",
                     "text/csv: the header uuid, then one pseudonym per member (CRLF); "
                     "Content-Disposition: attachment. Recorded in the audience's history."},
                    {"content", {{"text/csv", {{"schema", text}}}}}};
  Json export_responses = responses({{"401", kErr},
                                     {"403", kErr},
                                     {"404", "no audience of that name"},
                                     {"409",
                                      "below the owner's minimum export size (code "
                                      "below_min_export_size, with size and min_export_size), "
                                      "or no snapshot yet"}});
  export_responses["200"] = std::move(export_ok);
  p["/api/v1/audiences/{name}/export"]["get"] = Get("The members of a saved audience as pseudonyms",
                                                    "analyst", {name}, std::move(export_responses));
  // Collaboration (docs/api.md "Collaboration", docs/collaboration.md).
  const char* kNoParty =
      "this store is no party (code no_party): run `tessera party init --name NAME`";
  const char* kNoCollaboration =
      "the server was started without a collaboration file (code no_collaboration): "
      "`tessera serve --collaboration FILE`";
  const Json grant_id = Param("id", "path", "string", "the grant's id, g_ and 16 hex digits", true);
  const std::string kGrant =
      "the grant document's members (grant_id, grantor, grantee, purpose, allowed_fields, "
      "predicates, output_kinds, k_min, differential_privacy {epsilon_per_query, "
      "budget_per_period, period}, recipients, worker_hosts, attestation_modes, not_before, "
      "expires, created_at, signature, type), then direction (issued|received), stored_at, "
      "revoked (null or {at, reason}) and state (active|revoked|expired|not_yet_valid)";
  p["/api/v1/collab/party"]["get"] =
      Get("This store's party: name and party id", "viewer", none,
          responses({{"200",
                      "name, party_id, created_at, role (of the key that asked), "
                      "can_sign_grants (the server has the owner's key), collaboration (null "
                      "without a collaboration file, else {parties, listed, name, endpoint, "
                      "roles})"},
                     {"401", kErr},
                     {"403", kErr},
                     {"404", kNoParty}}));
  p["/api/v1/collab/partners"]["get"] =
      Get("The parties of the collaboration file, each with the grants issued to it and received "
          "from it",
          "viewer", none,
          responses({{"200",
                      "party {name, party_id}, parties [{name, party_id, endpoint, roles, self, "
                      "grants_issued, grants_received}], grants_with_other_parties; each grant as "
                      "in GET /api/v1/collab/grants/{id} with budget (issued grants with "
                      "differential privacy: {period, budget, spent, reserved, remaining} this "
                      "month, else null)"},
                     {"401", kErr},
                     {"403", kErr},
                     {"404", kNoParty},
                     {"409", kNoCollaboration}}));
  const Json grant_spec =
      body({{"partner", text},
            {"purpose",
             {{"type", "string"},
              {"enum", {"overlap", "audience_counts", "activation", "campaign_measurement"}}}},
            {"output_kinds", {{"type", "array"}, {"items", text}}},
            {"allowed_fields", {{"type", "array"}, {"items", text}}},
            {"k_min", {{"type", "integer"}, {"minimum", 2}}},
            {"differential_privacy",
             {{"type", "object"},
              {"properties", {{"epsilon_per_query", text}, {"budget_per_period", text}}}}},
            {"predicates",
             {{"type", "object"},
              {"properties",
               {{"max_breakdown_attributes", {{"type", "integer"}}},
                {"max_category_depth", {{"type", "integer"}}}}}}},
            {"recipients", {{"type", "array"}, {"items", text}}},
            {"worker_hosts", {{"type", "array"}, {"items", text}}},
            {"attestation_modes", {{"type", "array"}, {"items", text}}},
            {"expires", {{"type", "string"}, {"format", "date"}}},
            {"valid_for", text}},
           {"partner", "purpose", "output_kinds"});
  p["/api/v1/collab/grants"]["get"] =
      Get("Every grant, issued and received, revoked ones too", "analyst", none,
          responses({{"200", ("[grant]: " + kGrant).c_str()}, {"401", kErr}, {"403", kErr}}));
  p["/api/v1/collab/grants"]["post"] =
      op("Sign a grant for a partner and keep it (as `tessera grant create`)", "admin", none,
         grant_spec,
         responses({{"201",
                     "the grant, with document (the signed JSON to send to the partner); "
                     "Location: its URL"},
                    {"400", "a bad member of the spec (parameter names it)"},
                    {"401", kErr},
                    {"403", kErr},
                    {"404", kNoParty},
                    {"409",
                     "the server has no owner's key (code no_key: start it with --with-key), "
                     "or its key is not this store's party"},
                    {"413", kErr}}));
  p["/api/v1/collab/grants/import"]["post"] = op(
      "Verify a partner's grant and keep it (as `tessera grant import`)", "admin", none,
      {{"required", true}, {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}},
      responses({{"201", "the grant as kept"},
                 {"200", "the same grant was imported before"},
                 {"400",
                  "not a grant, a changed or forged signature, addressed to another party "
                  "(parameter names the member)"},
                 {"401", kErr},
                 {"403", kErr},
                 {"404", kNoParty},
                 {"409",
                  "no collaboration file; the grantor is not a data owner of it; another "
                  "grant with this id is stored"},
                 {"413", kErr}}));
  p["/api/v1/collab/grants/{id}"]["get"] =
      Get("One grant, with its signed document", "analyst", {grant_id},
          responses({{"200", (kGrant + ", document").c_str()},
                     {"401", kErr},
                     {"403", kErr},
                     {"404", "no such grant"}}));
  p["/api/v1/collab/grants/{id}/revoke"]["post"] =
      op("Revoke a grant; it stays listed as revoked", "admin", {grant_id},
         {{"required", false},
          {"content",
           {{"application/json",
             {{"schema", {{"type", "object"}, {"properties", {{"reason", text}}}}}}}}}},
         responses({{"200",
                     "changed (false when it was revoked already; the first reason stays) and "
                     "grant; for a grant issued here grantee_notified (its node told) and, when "
                     "false, grantee_notice_error"},
                    {"400", "a reason longer than 200 bytes or with control characters"},
                    {"401", kErr},
                    {"403", kErr},
                    {"404", "no such grant"}}));
  p["/api/v1/collab/audit"]["get"] =
      Get("The hash-chained audit log of the collaboration, in order", "admin",
          {Param("after", "query", "integer", "entries after this sequence number (default 0)"),
           Range("limit", 1, 1000, "entries per page (default 100)")},
          responses({{"200",
                      "entries [{sequence, time, party, grant_id, purpose, query_hash, "
                      "cells_returned, epsilon, epsilon_micro, attestation, outcome, reason, "
                      "previous_hash, entry_hash}], head {entries, hash}, next_after (null on "
                      "the last page)"},
                     {"400", kErr},
                     {"401", kErr},
                     {"403", kErr}}));
  p["/api/v1/collab/audit/verify"]["get"] =
      Get("Check every link of the audit log's chain", "admin", none,
          responses({{"200",
                      "ok, entries, head_hash; when not ok also problem, first_bad_sequence "
                      "and explanation"},
                     {"401", kErr},
                     {"403", kErr}}));
  const Json owner_query = {
      {"type", "object"},
      {"properties",
       {{"expression", {{"type", "string"}, {"description", "an audience on that owner's data"}}},
        {"breakdown", {{"type", "array"}, {"items", {{"type", "string"}}}, {"maxItems", 2}}}}}};
  const Json query_body = {
      {"required", true},
      {"content",
       {{"application/json",
         {{"schema",
           {{"type", "object"},
            {"required", {"partner"}},
            {"properties",
             {{"partner", {{"type", "string"}, {"description", "name or party id"}}},
              {"identifier", {{"type", "string"}, {"enum", {"email", "phone"}}}},
              {"own", owner_query},
              {"partner_side", owner_query},
              {"epsilon", {{"type", "string"}, {"description", "ε of this query, e.g. \"0.5\""}}},
              {"worker_host",
               {{"type", "string"},
                {"description",
                 "where the join worker runs: a worker_host party (name or id) the grants "
                 "accept; default here if allowed, else the first such host"}}},
              {"k_min", {{"type", "integer"}, {"minimum", 2}}}}}}}}}}}};
  const char* kQueryResult =
      "session, kind, dimensions, cells [{labels, count}], filtered_cells, k_min, noise, "
      "attestation {mode, ...}, epsilon_spent, grants";
  const char* kQueryRefused =
      "refused by a grant (reason: no_grant, revoked, expired, field_not_allowed, "
      "k_min_too_small, epsilon_too_large, ...), or budget_exhausted (remaining)";
  p["/api/v1/collab/overlap"]["post"] =
      op("How many people this party and a partner both have (private set intersection; the "
         "join worker runs here or at a worker host the grants accept)",
         "analyst", none, query_body,
         responses({{"200", kQueryResult},
                    {"400", kErr},
                    {"401", kErr},
                    {"403", kErr},
                    {"404", "this node takes no part in collaborations (what is missing)"},
                    {"409", kQueryRefused},
                    {"502", "the partner's node cannot be reached (partner_unreachable)"}}));
  const std::string count_refused =
      std::string(kQueryRefused) +
      "; for kept matches too_many_matches, match_stale (the partner's data changed: match again)";
  const char* kCountRefused = count_refused.c_str();
  Json count_body = query_body;
  Json& count_props = count_body["content"]["application/json"]["schema"]["properties"];
  count_props["keep"] = {
      {"type", "boolean"},
      {"description",
       "keep the match for further counts on it (answer: match {id, expires}); up to 4 kept "
       "here, 2 per owner"}};
  count_props["match"] = {
      {"type", "string"},
      {"description",
       "the id of a kept match: count on it in seconds, without matching again (the partner "
       "judges and logs the count as a query; its ε is spent as one)"}};
  p["/api/v1/collab/count"]["post"] =
      op("A joint audience's size, broken down by up to two attributes; cells under k_min "
         "withheld, noisy when the grants ask for differential privacy. With keep the match "
         "stays for counts on it (match), each taking seconds",
         "analyst", none, count_body,
         responses({{"200", kQueryResult},
                    {"400", kErr},
                    {"401", kErr},
                    {"403", kErr},
                    {"404",
                     "this node takes no part in collaborations (what is missing), or no match "
                     "of that id is kept here (reason unknown_match)"},
                    {"409", kCountRefused},
                    {"502", "the partner's node cannot be reached (partner_unreachable)"}}));
  p["/api/v1/collab/matches/{id}"]["delete"] =
      op("End a kept match: the owners forget their positions, the worker stops", "analyst",
         {Param("id", "path", "string", "the match's id (32 hex digits)")}, Json(nullptr),
         responses({{"200",
                     "ended: true; everyone_told (false: an owner or host was not "
                     "reached and forgets it when it expires), note"},
                    {"401", kErr},
                    {"403", kErr},
                    {"404", "no match of that id is kept here"}}));
  const Json activation_body = {
      {"required", true},
      {"content",
       {{"application/json",
         {{"schema",
           {{"type", "object"},
            {"required", {"partner"}},
            {"properties",
             {{"partner", {{"type", "string"}, {"description", "name or party id"}}},
              {"identifier", {{"type", "string"}, {"enum", {"email", "phone"}}}},
              {"own", owner_query},
              {"partner_side", owner_query},
              {"worker_host",
               {{"type", "string"},
                {"description",
                 "where the join worker runs: a worker_host party (name or id) the grants "
                 "accept; default here if allowed, else the first such host"}}},
              {"k_min", {{"type", "integer"}, {"minimum", 2}}}}}}}}}}}};
  Json activation_responses =
      responses({{"400", kErr},
                 {"401", kErr},
                 {"403", kErr},
                 {"404", "this node takes no part in collaborations (what is missing)"},
                 {"409",
                  "refused by the partner's grants (reason: no_grant, revoked, "
                  "activation_under_dp, requester_not_owner, field_not_allowed, ...); with "
                  "format=csv also a list withheld under k_min (code below_min_cell_size, with "
                  "withheld and k_min)"},
                 {"502", "the partner's node cannot be reached (partner_unreachable)"}});
  activation_responses["200"] = {
      {"description",
       "application/json: session, kind, withheld, count (when released), k_min, attestation, "
       "grants, members (this party's pseudonyms; empty when withheld). text/csv (format=csv): "
       "the header uuid, then one pseudonym per member (CRLF), as an audience export; "
       "X-Tessera-Activation-Count: the members"},
      {"content",
       {{"application/json", {{"schema", {{"type", "object"}}}}},
        {"text/csv", {{"schema", {{"type", "string"}}}}}}}};
  p["/api/v1/collab/activate"]["post"] =
      op("The members of a joint audience among this party's own customers, as its pseudonyms "
         "(activation): only when the partner's grant allows activation without differential "
         "privacy, and at least k_min and this party's minimum export size",
         "analyst", {Param("format", "query", "string", "json (default) or csv")}, activation_body,
         std::move(activation_responses));
  p["/api/v1/collab/node/{step}"]["post"] =
      op("Between nodes, not for people: a session's round (round1, round2) at an owner, a "
         "grantor's revocation notice (grant_revoked), a count on a kept match and its end "
         "(count, match_end), or a join worker's start, run, counts and stop (worker_start, "
         "worker_run, worker_count, worker_stop) at a worker host, signed by the sending "
         "party (headers Tessera-From, Tessera-To, Tessera-Time, Tessera-Nonce, Tessera-Signature; "
         "docs/collaboration.md \"Between nodes\"); no API key",
         "party signature",
         {Param("step", "path", "string",
                "round1, round2, count, match_end, grant_revoked, worker_start, worker_run, "
                "worker_count or worker_stop")},
         {{"required", true},
          {"content", {{"application/octet-stream", {{"schema", {{"type", "string"}}}}}}}},
         responses({{"200", "the reply (octet-stream), signed in the same headers"},
                    {"400", kErr},
                    {"401", "not signed"},
                    {"403", "a bad signature, an unknown party, too old, replayed"},
                    {"404", "no such step, or this node takes no part in collaborations"},
                    {"409", kQueryRefused},
                    {"413", kErr}}));
  p["/metrics"]["get"] =
      Get("Prometheus metrics", "viewer", none, Responses("text exposition format", false));
  doc["components"]["securitySchemes"] = {
      {"bearer", {{"type", "http"}, {"scheme", "bearer"}}},
      {"queryKey",
       {{"type", "apiKey"},
        {"in", "query"},
        {"name", "key"},
        {"description", "only for keys created with --allow-query-key (IMPORTDATA)"}}}};
  doc["components"]["responses"]["Error"] = {
      {"description", "an error"},
      {"content",
       {{"application/json",
         {{"schema",
           {{"type", "object"},
            {"properties",
             {{"error",
               {{"type", "object"},
                {"properties",
                 {{"status", {{"type", "integer"}}},
                  {"code", {{"type", "string"}}},
                  {"message", {{"type", "string"}}},
                  {"parameter", {{"type", "string"}}},
                  {"column", {{"type", "integer"}}},
                  {"expected", {{"type", "string"}}},
                  {"suggestion", {{"type", "string"}}},
                  {"expression_index", {{"type", "integer"}}},
                  {"size", {{"type", "integer"}}},
                  {"min_export_size", {{"type", "integer"}}}}}}}}}}}}}}}};
  return doc.dump(2) + "\n";
}

}  // namespace tessera::server
