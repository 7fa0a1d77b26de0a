#pragma once

// Internal: the two kinds' transports. Each sends one delivery's change set, records every
// attempt in the log as it happens, and on success marks the delivery delivered (which
// advances the baseline), all under the run's `lease` on the destination, which they renew
// (a webhook also before each request) and stop at once when it is lost. `delivery` is
// updated to how it ended.

#include <string>

#include "tessera/destinations/destinations.h"

namespace tessera::destinations {

struct UrlParts {
  std::string origin;  // "http://host:port"
  std::string path;    // "/hook?x=1"; "/" when the URL has none
};
// Errors: kInvalidArgument (not http:// or https://, no host). Never echoes the URL.
StatusOr<UrlParts> SplitUrl(const std::string& url);

// Requests the change set takes at the destination's batch size (at least one).
uint32_t BatchCount(const Destination& d, const ChangeSet& change);

// Returns OK once delivered; otherwise the last error (the log says pending or dead).
Status SendWebhook(DestinationStore& ds, const Lease& lease, const Destination& d,
                   const ChangeSet& change, const DeliveryPolicy& policy, Delivery& delivery);
Status DropCsv(DestinationStore& ds, const Lease& lease, const Destination& d,
               const ChangeSet& change, const DeliveryPolicy& policy, Delivery& delivery);

// The secret of a webhook, from its environment variable or file (trailing newline dropped).
// Errors: kFailedPrecondition naming the variable or the file, never the secret.
StatusOr<std::string> ReadSecret(const Destination& d);

}  // namespace tessera::destinations
