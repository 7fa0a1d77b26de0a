#include "tessera/collab/psi.h"

#include "tessera/common/parallel.h"

namespace tessera::collab {

StatusOr<SessionScalar> SessionScalar::Random() {
  TESSERA_ASSIGN_OR_RETURN(Scalar s, Scalar::Random());
  return SessionScalar(std::move(s));
}

StatusOr<SessionScalar> SessionScalar::FromBytes(std::span<const uint8_t> bytes) {
  TESSERA_ASSIGN_OR_RETURN(Scalar s, Scalar::FromBytes(bytes));
  return SessionScalar(std::move(s));
}

SessionScalar SessionScalar::WithMatchKey(const MatchTokenKey& key) const {
  return SessionScalar(scalar_ * key.k_);
}

StatusOr<Point> Blind(const Point& point, const SessionScalar& r) {
  return Multiply(r.scalar(), point);
}

namespace {

// Points a thread takes at a time: ~150 ms of scalar multiplications, so that threads finish
// together and a failure stops the others soon.
constexpr size_t kBlindChunk = 4096;

// r · point(i) into out[i] for every i, on `threads` threads; point(i) may fail (decoding).
Status BlindInto(std::vector<Point>& out, const std::function<StatusOr<Point>(size_t)>& point,
                 const SessionScalar& r, unsigned threads) {
  return ParallelChunks(
      out.size(), kBlindChunk,
      [&](size_t begin, size_t end) {
        for (size_t i = begin; i < end; ++i) {
          StatusOr<Point> p = point(i);
          if (p.ok()) p = Multiply(r.scalar(), *p);
          if (!p.ok()) {
            Status status = p.status();
            return status.SetDetail("index", static_cast<int64_t>(i));
          }
          out[i] = *p;
        }
        return OkStatus();
      },
      threads);
}

}  // namespace

StatusOr<std::vector<Point>> BlindBatch(std::vector<Point>&& points, const SessionScalar& r,
                                        unsigned threads) {
  std::vector<Point> out = std::move(points);
  TESSERA_RETURN_IF_ERROR(BlindInto(
      out, [&](size_t i) -> StatusOr<Point> { return out[i]; }, r, threads));
  return out;
}

StatusOr<std::vector<Point>> BlindBatch(std::span<const Point> points, const SessionScalar& r,
                                        unsigned threads) {
  return BlindBatch(std::vector<Point>(points.begin(), points.end()), r, threads);
}

StatusOr<std::vector<Point>> DecodeAndBlind(
    size_t n, const std::function<std::span<const uint8_t>(size_t)>& encoded,
    const SessionScalar& r, unsigned threads) {
  std::vector<Point> out(n, Point::Generator());
  TESSERA_RETURN_IF_ERROR(BlindInto(
      out, [&](size_t i) { return Point::FromBytes(encoded(i)); }, r, threads));
  return out;
}

}  // namespace tessera::collab
