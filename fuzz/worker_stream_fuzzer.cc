// Owner streams reach the join worker through whoever relays them, sealed to the worker
// (worker_channel.h) and then read as worker.h frames: any bytes must give frames or an error,
// never a crash. The first byte picks what the rest is:
//   even: a sealed stream as a relay delivers it, opened with a fixed worker key (a relay that
//         cannot seal — everyone but the owners — is stopped at the first frame's tag);
//   odd:  an owner's plaintext frames (worker.h), which an owner seals to that key; read back
//         through the channel, the stream must come out as it does from the plain frames, and
//         a stream read whole goes on through the join (as both owners' stream) to a result or
//         an error.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tessera/collab/worker.h"
#include "tessera/collab/worker_channel.h"

namespace {

using tessera::StatusOr;
using namespace tessera::collab;

ReadFn FromBytes(const uint8_t* data, size_t size) {
  auto at = std::make_shared<size_t>(0);
  return [data, size, at](uint8_t* out, size_t n) -> StatusOr<size_t> {
    const size_t take = std::min(n, size - *at);
    if (take > 0) std::memcpy(out, data + *at, take);
    *at += take;
    return take;
  };
}

const WorkerKeyPair& Keys() {
  static const WorkerKeyPair keys = [] {
    std::array<uint8_t, 32> seed{};
    seed.fill(0x5a);  // fuzz/corpus/worker_stream's sealed seeds are sealed to this key
    return *WorkerKeyPair::FromSeed(seed);
  }();
  return keys;
}

StatusOr<OwnerStream> ReadSealed(ReadFn read) {
  TESSERA_ASSIGN_OR_RETURN(SealedStreamReader reader,
                           SealedStreamReader::Open(std::move(read), Keys()));
  return ReadOwnerStream(FrameSource([&reader] { return reader.Next(); }), "fuzz");
}

bool Same(const OwnerStream& a, const OwnerStream& b) {
  auto ca = EncodeContribution(a.contribution);
  auto cb = EncodeContribution(b.contribution);
  return a.job == b.job && a.of_partner == b.of_partner && ca.ok() && cb.ok() && *ca == *cb;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool plain = data[0] & 1;
  ++data;
  --size;
  if (!plain) {
    (void)ReadSealed(FromBytes(data, size));
    return 0;
  }
  // The plaintext frames, sealed as an owner would seal them.
  std::vector<std::string> frames;
  bool well_framed = true;
  const ReadFn read = FromBytes(data, size);
  for (;;) {
    auto frame = ReadFrame(read);
    if (!frame.ok()) {
      well_framed = false;
      break;
    }
    if (!*frame) break;
    frames.push_back(std::move(**frame));
  }
  auto writer = SealedStreamWriter::Create(Keys().public_key());
  if (!writer.ok()) std::abort();
  std::string sealed = writer->header();
  for (size_t i = 0; i < frames.size(); ++i) {
    auto frame = writer->Seal(frames[i], i + 1 == frames.size());
    if (!frame.ok()) std::abort();  // an input's frames are far below the limit
    sealed += *frame;
  }
  const auto through =
      ReadSealed(FromBytes(reinterpret_cast<const uint8_t*>(sealed.data()), sealed.size()));
  const auto direct = ReadOwnerStream(FromBytes(data, size), "fuzz");
  // A stream broken inside a frame is refused directly; sealed, it has lost that frame's
  // remains, so only whole frames compare.
  if (well_framed) {
    if (through.ok() != direct.ok()) std::abort();
    if (through.ok() && !Same(*through, *direct)) std::abort();
  } else if (direct.ok()) {
    std::abort();
  }
  if (direct.ok()) {
    static const auto simulated = *MakeAttestationProvider("simulated");
    SeededRandom random(uint64_t{1});
    (void)RunJoinJob(*direct, *direct, *simulated, random);
  }
  return 0;
}
