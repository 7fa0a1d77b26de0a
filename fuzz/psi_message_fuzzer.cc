// PSI messages and contributions come from other parties and reach the join worker: any bytes must
// give a message or an error, never a crash; what is accepted re-encodes to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "tessera/collab/joint_counts.h"
#include "tessera/collab/psi_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The same header starts a contribution (joint_counts.h): any bytes give one or an error, and
  // an accepted one has one encoding.
  if (auto c = tessera::collab::ParseContribution(std::span(data, size)); c.ok()) {
    auto again = tessera::collab::EncodeContribution(*c);
    if (!again.ok() || again->size() != size || std::memcmp(again->data(), data, size) != 0) {
      std::abort();
    }
  }
  const tessera::collab::PsiMessageLimits limits{64};
  auto message = tessera::collab::ParsePsiMessage(std::span(data, size), limits);
  // Decoding on several threads finds what one thread finds: the same message or the same error.
  auto threaded = tessera::collab::ParsePsiMessage(std::span(data, size), limits, 2);
  if (threaded.ok() != message.ok()) std::abort();
  if (!message.ok()) {
    if (threaded.status().message() != message.status().message()) std::abort();
    return 0;
  }
  if (threaded->points != message->points) std::abort();
  auto again = tessera::collab::EncodePsiMessage(*message, limits);
  if (!again.ok() || again->size() != size || std::memcmp(again->data(), data, size) != 0) {
    std::abort();  // an accepted message has one encoding
  }
  // A fresh guard takes chunk 0 of a stream only, and each chunk once.
  tessera::collab::ReplayGuard guard;
  const bool first = message->sequence == 0;
  if (guard.Accept("fuzz", *message).ok() != first) std::abort();
  if (guard.Accept("fuzz", *message).ok()) std::abort();
  return 0;
}
