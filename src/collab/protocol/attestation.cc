#include "tessera/collab/attestation.h"

#include <dlfcn.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace tessera::collab {

namespace {

class SimulatedProvider final : public AttestationProvider {
 public:
  std::string mode() const override { return "simulated"; }
  StatusOr<std::string> Attest(const std::array<uint8_t, 64>& report_data) const override {
    nlohmann::ordered_json j;
    j["mode"] = "simulated";
    j["attested"] = false;
    j["note"] =
        "no enclave: this run is not attested; accept it only where every owner's grant "
        "accepts the simulated mode";
    std::string hex;
    for (uint8_t b : report_data) hex += fmt::format("{:02x}", b);
    j["report_data"] = hex;
    return j.dump();
  }
};

}  // namespace

std::string_view AttestationModeName(AttestationMode mode) {
  switch (mode) {
    case AttestationMode::kSimulated:
      return "simulated";
    case AttestationMode::kSgxDcap:
      return "sgx-dcap";
    case AttestationMode::kNone:
      break;
  }
  return "none";
}

StatusOr<AttestationMode> ParseAttestationMode(std::string_view name) {
  for (AttestationMode m :
       {AttestationMode::kNone, AttestationMode::kSimulated, AttestationMode::kSgxDcap}) {
    if (name == AttestationModeName(m)) return m;
  }
  return InvalidArgumentError("unknown attestation mode (expected none, simulated or sgx-dcap)");
}

StatusOr<std::unique_ptr<AttestationProvider>> MakeAttestationProvider(const std::string& mode) {
  if (mode == "simulated") return std::unique_ptr<AttestationProvider>(new SimulatedProvider());
  if (mode == "sgx-dcap") {
    // A quote needs the SGX device and Intel's quote library; without both there is nothing to
    // attest with, and a quote is never fabricated.
    const bool device =
        ::access("/dev/sgx_enclave", F_OK) == 0 || ::access("/dev/sgx/enclave", F_OK) == 0;
    void* library = ::dlopen("libsgx_dcap_ql.so.1", RTLD_NOW | RTLD_LOCAL);
    if (library != nullptr) ::dlclose(library);
    if (!device || library == nullptr) {
      return UnavailableError(
          "sgx-dcap attestation is not available here: {}{}{}; run the worker under gramine-sgx "
          "on SGX hardware with Intel's DCAP libraries (docs/collaboration.md)",
          device ? "" : "no SGX device (/dev/sgx_enclave)",
          !device && library == nullptr ? ", " : "",
          library == nullptr ? "no DCAP quote library (libsgx_dcap_ql.so.1)" : "");
    }
    return UnavailableError(
        "sgx-dcap attestation: this build does not yet produce DCAP quotes; use it under "
        "gramine-sgx, whose remote attestation covers the worker (docs/collaboration.md)");
  }
  return InvalidArgumentError("unknown attestation mode '{}' (simulated, sgx-dcap)", mode);
}

}  // namespace tessera::collab
