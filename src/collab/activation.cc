// The requester's side of an activation (session.h): a query whose requester is owner A, and the
// step only A's own node can take — turning the positions the join worker released into A's
// pseudonyms.

#include <nlohmann/json.hpp>

#include "tessera/collab/session.h"
#include "tessera/collab/worker.h"

namespace tessera::collab {
namespace {

const CollaborationParty* Resolve(const Collaboration& c, const std::string& name_or_id) {
  if (auto id = PartyId::Parse(name_or_id); id.ok()) return c.Find(*id);
  return c.FindByName(name_or_id);
}

Status NotAnOwner(std::string message) {
  Status s = FailedPreconditionError("{}", message);
  s.SetDetail("reason", "requester_not_owner");
  return s;
}

}  // namespace

StatusOr<ActivationResult> RunActivation(QuerySpec spec, const RequesterOptions& options,
                                         std::span<const StoredGrant> received_grants,
                                         NodeTransport& transport, OwnerNode& own) {
  if (spec.kind != QueryKind::kActivation) {
    return InvalidArgumentError("RunActivation runs activations only");
  }
  if (spec.epsilon_micro) {
    return InvalidArgumentError("an activation takes no ε: a list cannot be noised");
  }
  if (!spec.queries[0].breakdown.empty() || !spec.queries[1].breakdown.empty()) {
    return InvalidArgumentError("an activation takes no breakdown: it lists people");
  }
  if (!options.owner_key) return InvalidArgumentError("a query needs this party's owner key");
  TESSERA_ASSIGN_OR_RETURN(PartyKey key, PartyKey::Derive(*options.owner_key));
  if (own.id() != key.id()) {
    return NotAnOwner("the activation's members can be mapped by this party's own node only");
  }
  // This party becomes owner A, whose positions the worker releases; its partner owner B.
  std::array<const CollaborationParty*, 2> named{};
  for (size_t i = 0; i < 2; ++i) named[i] = Resolve(options.collaboration, spec.owners[i]);
  if (named[1] != nullptr && named[1]->id == key.id() &&
      (named[0] == nullptr || named[0]->id != key.id())) {
    std::swap(spec.owners[0], spec.owners[1]);
    std::swap(spec.queries[0], spec.queries[1]);
  } else if (named[0] == nullptr || named[0]->id != key.id()) {
    return NotAnOwner(
        "an activation list goes only to the owner of those customers, and this party is not one "
        "of the owners asked: ask with this party as an owner (--partner NAME)");
  }

  ActivationResult out;
  TESSERA_ASSIGN_OR_RETURN(out.query, RunQuery(spec, options, received_grants, transport));
  nlohmann::json released = nlohmann::json::parse(out.query.result_json, nullptr, false);
  out.withheld = released.value("withheld", true);
  std::vector<uint32_t> positions;
  if (!out.withheld) {
    if (!released.contains("positions") || !released["positions"].is_string()) {
      return InternalError("the join worker released an activation without its positions");
    }
    auto decoded = DecodePositionBits(released["positions"].get<std::string>());
    if (!decoded.ok()) {
      return InternalError("the join worker's positions: {}", decoded.status().message());
    }
    positions = std::move(*decoded);
    released.erase("positions");
    out.query.result_json = released.dump();
  }
  // Always taken, so that the session's permutation is forgotten here, released or not.
  TESSERA_ASSIGN_OR_RETURN(out.members,
                           own.ActivationMembers(out.query.request.session, positions));
  if (!out.withheld && out.members.size() < out.query.request.k_min) {
    // Fewer distinct customers than pairs (a customer matched with two identifiers): under k_min
    // as people, and withheld as the worker would have.
    out.withheld = true;
    out.members.clear();
    out.query.cells_returned = 0;
    released["withheld"] = true;
    released.erase("count");
    out.query.result_json = released.dump();
  }
  return out;
}

std::string ActivationListCsv(std::span<const privacy::Uuid> members) {
  std::string csv = "uuid\r\n";
  csv.reserve(csv.size() + members.size() * 38);
  for (const privacy::Uuid& u : members) {
    csv += u.ToString();
    csv += "\r\n";
  }
  return csv;
}

}  // namespace tessera::collab
