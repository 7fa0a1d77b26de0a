#include "tessera/collab/psi.h"

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

StatusOr<std::vector<Point>> BlindBatch(std::span<const Point> points, const SessionScalar& r) {
  std::vector<Point> out;
  out.reserve(points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    auto blinded = Multiply(r.scalar(), points[i]);
    if (!blinded.ok()) {
      Status status = blinded.status();
      return status.SetDetail("index", static_cast<int64_t>(i));
    }
    out.push_back(*blinded);
  }
  return out;
}

StatusOr<std::vector<Point>> BlindBatch(std::vector<Point>&& points, const SessionScalar& r) {
  std::vector<Point> out = std::move(points);
  for (size_t i = 0; i < out.size(); ++i) {
    auto blinded = Multiply(r.scalar(), out[i]);
    if (!blinded.ok()) {
      Status status = blinded.status();
      return status.SetDetail("index", static_cast<int64_t>(i));
    }
    out[i] = *blinded;
  }
  return out;
}

}  // namespace tessera::collab
