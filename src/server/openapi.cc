// The OpenAPI 3.0 description of the API served at /api/v1/openapi.json (docs/api.md is
// the prose version).

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

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
  }
  r["404"] = {{"$ref", "#/components/responses/Error"}};
  return r;
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
          {snapshot, lang, format, predict, horizon, discount},
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
          {Param("id", "path", "integer", "snapshot id", true), lang, format, predict, horizon,
           discount},
          Responses("as /api/v1/segments", true));
  p["/api/v1/migration"]["get"] =
      Get("Customers moving between the segments of two snapshots", "viewer",
          {Param("from", "query", "integer", "older snapshot (default: second newest)"),
           Param("to", "query", "integer", "newer snapshot (default: newest)"), lang, format},
          Responses("moves: from_key, to_key (null = new / gone), customers", true));
  p["/api/v1/distributions"]["get"] =
      Get("Histograms of CLV, order count and recency; the R x F grid", "viewer",
          {snapshot, Range("bins", 1, 200, "bins per histogram (default 20)")},
          Responses("histograms and rf_grid", false));
  p["/api/v1/profiles"]["get"] =
      Get("Per-customer profiles, paginated", "analyst",
          {snapshot, lang, format, Param("segment", "query", "string", "segment key or name"),
           Range("r_min", 1, 5, "lowest R score"), Range("r_max", 1, 5, "highest R score"),
           Range("f_min", 1, 5, "lowest F score"), Range("f_max", 1, 5, "highest F score"),
           Range("m_min", 1, 5, "lowest M score"), Range("m_max", 1, 5, "highest M score"),
           Range("limit", 1, 1000, "items per page (default 100)"),
           Param("cursor", "query", "string", "next_cursor of the previous page"), predict, horizon,
           discount},
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
       {Param("mapping", "query", "string", "mapping preset (default generic)"),
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
  p["/api/v1/loads"]["get"] =
      Get("Ingest runs with their summaries", "admin", none, Responses("loads", false));
  p["/api/v1/loads/{id}/rejects"]["get"] = Get(
      "The rejected rows of an ingest run (file, line, column, reason; never values)", "admin",
      {Param("id", "path", "integer", "load id", true), format}, Responses("rejected rows", true));
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
