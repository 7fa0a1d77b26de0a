#pragma once

// Requests from this node to another party's node over HTTP (collab/session.h NodeTransport):
// POST {endpoint}/api/v1/collab/node/{op} with the body and its signature in the headers
// Tessera-From, Tessera-To, Tessera-Time, Tessera-Nonce and Tessera-Signature (node_auth.h); the
// reply comes back signed the same way and is checked before it is returned.
//
// Privacy: bodies are session requests, blinded values and ciphertext for the join worker.

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tessera/collab/session.h"

namespace tessera::server {

class HttpNodeTransport : public collab::NodeTransport {
 public:
  // `key`: this party's key, borrowed. Timeouts in seconds.
  explicit HttpNodeTransport(const collab::PartyKey& key, std::function<int64_t()> clock = {},
                             int read_timeout_seconds = 3600);
  // Errors: kUnavailable when the node cannot be reached; the node's refusal with its status
  // (400 kInvalidArgument, 403 kPermissionDenied, 404 kNotFound, 409 kFailedPrecondition or
  // kResourceExhausted for a budget) and its "reason" as the detail "reason";
  // kPermissionDenied when the reply's signature does not verify.
  StatusOr<collab::NodeReply> Call(const collab::CollaborationParty& to, std::string_view op,
                                   const std::string& body) override;

 private:
  const collab::PartyKey& key_;
  std::function<int64_t()> clock_;
  int read_timeout_;
};

// The signature of a node message as HTTP headers (name, value).
std::vector<std::pair<std::string, std::string>> NodeSignatureHeaders(
    const collab::NodeSignature& sig);
// The signature from headers read by `get` (a missing header reads as empty).
collab::NodeSignature NodeSignatureFromHeaders(
    const std::function<std::string(const char* name)>& get);

// Where tessera-worker is: $TESSERA_WORKER, else beside this executable, else (a build tree)
// ../tessera-worker/tessera-worker from it; "tessera-worker" when neither exists.
std::string DefaultWorkerBinary();

}  // namespace tessera::server
