#pragma once

// A refusal by policy, as every collaboration step gives it: kFailedPrecondition with its stable
// code in the detail "reason" (the codes: session.h, worker_host.h). Internal to the collab
// module.

#include <string>
#include <string_view>

#include "tessera/common/status.h"

namespace tessera::collab::internal {

inline Status Refusal(std::string_view reason, std::string_view message) {
  Status s = FailedPreconditionError("{}", message);
  s.SetDetail("reason", std::string(reason));
  return s;
}

}  // namespace tessera::collab::internal
