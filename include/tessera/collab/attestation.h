#pragma once

// Where a join ran, as evidence: an attestation provider binds the worker's outputs to the code
// that produced them. Two providers: `simulated`, which attests nothing and says so (every result
// and audit entry carries its mode, and owners refuse it unless their grant accepts it), and
// `sgx-dcap`, which needs Intel SGX hardware and Intel's DCAP quote library. No provider here
// ever makes up a quote.

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "tessera/common/status.h"

namespace tessera::collab {

// Where a collaboration ran: "simulated" (no enclave; every result says so), "sgx-dcap" (an
// SGX enclave attested by a DCAP quote), "none" (a request refused before any run).
enum class AttestationMode { kNone, kSimulated, kSgxDcap };
std::string_view AttestationModeName(AttestationMode mode);
// Errors: kInvalidArgument unless "none", "simulated" or "sgx-dcap".
StatusOr<AttestationMode> ParseAttestationMode(std::string_view name);

class AttestationProvider {
 public:
  virtual ~AttestationProvider() = default;
  // "simulated" or "sgx-dcap": what results and audit entries name.
  virtual std::string mode() const = 0;
  // Evidence over 64 bytes of report data (a hash of the job and its result), as JSON; for
  // `simulated`, a statement that nothing is attested. Errors: those of the hardware.
  virtual StatusOr<std::string> Attest(const std::array<uint8_t, 64>& report_data) const = 0;
};

// Errors: kInvalidArgument for an unknown mode; kUnavailable for `sgx-dcap` where there is no SGX
// device or no DCAP quote library (the message says which).
StatusOr<std::unique_ptr<AttestationProvider>> MakeAttestationProvider(const std::string& mode);

}  // namespace tessera::collab
