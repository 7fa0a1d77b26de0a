#pragma once

// What every handler of `tessera serve` shares: the JSON error envelope, the mapping of
// library errors to status codes (in one place), and strict query parameters.
//
// Internal to the server module.

#include <fmt/format.h>
#include <httplib.h>

#include <charconv>
#include <cmath>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "tessera/common/status.h"

namespace tessera::server::internal {

using Json = nlohmann::ordered_json;

// A request failure that becomes a JSON error response:
// {"error": {"status", "code", "message", ["parameter"], ...extra}}.
struct HttpError {
  int status;
  std::string code, message, parameter;
  Json extra = Json::object();  // more members of the error object (e.g. "column")
};

inline HttpError BadParameter(std::string parameter, std::string message) {
  return {400, "invalid_parameter", std::move(message), std::move(parameter)};
}

inline HttpError FromStatus(const Status& s) {
  switch (s.code()) {
    case StatusCode::kNotFound:
      return {404, "not_found", s.message(), ""};
    case StatusCode::kInvalidArgument:
      return {400, "invalid_parameter", s.message(), ""};
    case StatusCode::kUnavailable:
      return {503, "unavailable", s.message(), ""};
    case StatusCode::kFailedPrecondition:
    case StatusCode::kAlreadyExists:
      return {409, "conflict", s.message(), ""};
    default:
      return {500, "internal", s.message(), ""};
  }
}

// What error messages must not show a client: the store's location and description (a file
// path, a database host) become "the store". Set once when the server starts, before it serves.
inline std::vector<std::string>& Redactions() {
  static std::vector<std::string> redactions;
  return redactions;
}
inline std::string Redact(std::string message) {
  for (const std::string& r : Redactions()) {
    if (r.empty()) continue;
    for (size_t at; (at = message.find(r)) != std::string::npos;)
      message.replace(at, r.size(), "the store");
  }
  return message;
}

inline void SendError(httplib::Response& res, const HttpError& e) {
  Json j;
  j["error"] = {{"status", e.status}, {"code", e.code}, {"message", Redact(e.message)}};
  if (!e.parameter.empty()) j["error"]["parameter"] = e.parameter;
  for (const auto& [k, v] : e.extra.items()) j["error"][k] = v;
  res.status = e.status;
  // A message may carry bytes of the request (a path decoded from %ff): replaced, not thrown.
  res.set_content(j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n",
                  "application/json");
}

// A strictly parsed number query parameter within [lo, hi]: a whole number for integer `T`.
template <typename T>
std::optional<HttpError> RangeParam(const httplib::Request& req, const char* name, T lo, T hi,
                                    T* out) {
  if (!req.has_param(name)) return std::nullopt;
  const std::string v = req.get_param_value(name);
  T n{};
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  bool ok = !v.empty() && ec == std::errc() && end == v.data() + v.size() && n >= lo && n <= hi;
  if constexpr (std::is_floating_point_v<T>) ok = ok && std::isfinite(n);
  if (!ok) {
    return BadParameter(name,
                        fmt::format("{} must be a {} from {} to {}", name,
                                    std::is_integral_v<T> ? "whole number" : "number", lo, hi));
  }
  *out = n;
  return std::nullopt;
}

inline std::optional<HttpError> IntParam(const httplib::Request& req, const char* name, int64_t lo,
                                         int64_t hi, int64_t* out) {
  return RangeParam(req, name, lo, hi, out);
}

inline std::optional<HttpError> NumberParam(const httplib::Request& req, const char* name,
                                            double lo, double hi, double* out) {
  return RangeParam(req, name, lo, hi, out);
}

inline std::optional<HttpError> ChoiceParam(const httplib::Request& req, const char* name,
                                            std::initializer_list<const char*> allowed,
                                            std::string* out) {
  if (!req.has_param(name)) return std::nullopt;
  const std::string v = req.get_param_value(name);
  std::string list;
  for (const char* a : allowed) {
    if (v == a) {
      *out = v;
      return std::nullopt;
    }
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  return BadParameter(name, fmt::format("{} must be one of: {}", name, list));
}

}  // namespace tessera::server::internal
