#include "tessera/server/node_client.h"

#include <httplib.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tessera/common/http_error.h"

namespace tessera::server {
namespace {

int64_t SystemNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string DefaultWorkerBinary() {
  if (const char* env = std::getenv("TESSERA_WORKER"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const auto& candidate :
         {self.parent_path() / "tessera-worker",
          self.parent_path().parent_path() / "tessera-worker" / "tessera-worker"}) {
      if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    }
  }
  return "tessera-worker";
}

std::vector<std::pair<std::string, std::string>> NodeSignatureHeaders(
    const collab::NodeSignature& sig) {
  return {{"Tessera-From", sig.from},
          {"Tessera-To", sig.to},
          {"Tessera-Time", std::to_string(sig.time)},
          {"Tessera-Nonce", sig.nonce},
          {"Tessera-Signature", sig.signature},
          {"Tessera-Head-Signature", sig.head}};
}

collab::NodeSignature NodeSignatureFromHeaders(
    const std::function<std::string(const char* name)>& get) {
  collab::NodeSignature sig;
  sig.from = get("Tessera-From");
  sig.to = get("Tessera-To");
  const std::string time = get("Tessera-Time");
  char* end = nullptr;
  sig.time = std::strtoll(time.c_str(), &end, 10);
  if (time.empty() || end == nullptr || *end != '\0') sig.time = 0;
  sig.nonce = get("Tessera-Nonce");
  sig.signature = get("Tessera-Signature");
  sig.head = get("Tessera-Head-Signature");
  return sig;
}

HttpNodeTransport::HttpNodeTransport(const collab::PartyKey& key, std::function<int64_t()> clock,
                                     int read_timeout_seconds)
    : key_(key), clock_(std::move(clock)), read_timeout_(read_timeout_seconds) {}

StatusOr<collab::NodeReply> HttpNodeTransport::Call(const collab::CollaborationParty& to,
                                                    std::string_view op, const std::string& body) {
  const int64_t now = clock_ ? clock_() : SystemNow();
  TESSERA_ASSIGN_OR_RETURN(collab::NodeSignature sig,
                           collab::SignNodeMessage(key_, op, to.id, body, now));
  // "https://host:port/base" -> client "https://host:port", path "/base/api/v1/collab/node/op".
  const size_t scheme_end = to.endpoint.find("://");
  const size_t path_at =
      scheme_end == std::string::npos ? std::string::npos : to.endpoint.find('/', scheme_end + 3);
  const std::string origin = to.endpoint.substr(0, path_at);
  std::string base = path_at == std::string::npos ? "" : to.endpoint.substr(path_at);
  while (!base.empty() && base.back() == '/') base.pop_back();
  httplib::Client client(origin);
  client.set_connection_timeout(10);
  client.set_read_timeout(read_timeout_);
  client.set_write_timeout(read_timeout_);
  httplib::Headers headers;
  for (auto& [name, value] : NodeSignatureHeaders(sig)) headers.emplace(name, value);
  auto res = client.Post(base + "/api/v1/collab/node/" + std::string(op), headers, body,
                         "application/octet-stream");
  if (!res) {
    if (res.error() == httplib::Error::SSLServerVerification) {
      return UnavailableError(
          "{} cannot be reached at {}: its TLS certificate is not trusted here "
          "(SSLServerVerification; a certificate of a private CA: give the CA's file as "
          "SSL_CERT_FILE)",
          to.name, to.endpoint);
    }
    return UnavailableError("{} cannot be reached at {}: {}", to.name, to.endpoint,
                            HttpErrorText(res.error()));
  }
  if (res->status != 200) {
    std::string message = fmt::format("{} answered HTTP {}", to.name, res->status);
    std::string reason;
    const auto j = nlohmann::json::parse(res->body, nullptr, false);
    if (j.is_object() && j.contains("error") && j["error"].is_object()) {
      const auto& e = j["error"];
      // The caller names the party (RunQuery adds it as context).
      if (e.contains("message") && e["message"].is_string())
        message = e["message"].get<std::string>();
      if (e.contains("reason") && e["reason"].is_string()) reason = e["reason"].get<std::string>();
    }
    Status s;
    switch (res->status) {
      case 400:
        s = InvalidArgumentError("{}", message);
        break;
      case 401:
      case 403:
        s = PermissionDeniedError("{}", message);
        break;
      case 404:
        s = NotFoundError("{}", message);
        break;
      case 409:
        s = reason == "budget_exhausted" ? ResourceExhaustedError("{}", message)
                                         : FailedPreconditionError("{}", message);
        break;
      case 503:
        s = UnavailableError("{}", message);
        break;
      default:
        s = InternalError("{}", message);
        break;
    }
    if (!reason.empty()) s.SetDetail("reason", reason);
    return s;
  }
  const collab::NodeSignature reply =
      NodeSignatureFromHeaders([&](const char* name) { return res->get_header_value(name); });
  TESSERA_RETURN_IF_ERROR(
      collab::VerifyNodeMessage(reply, std::string(op) + ".reply", to.id, key_.id(), res->body)
          .WithContext(to.name));
  return collab::NodeReply{std::move(res->body), std::move(reply)};
}

}  // namespace tessera::server
