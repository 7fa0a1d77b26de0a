#include "tessera/audience/people.h"

#include "tessera/audience/audience_store.h"
#include "tessera/audience/audiences.h"

namespace tessera::audience {

StatusOr<ingest::PeopleLoadSummary> LoadPeople(store::Store& store, const privacy::OwnerKey& key,
                                               const std::vector<std::string>& files,
                                               const ingest::LoadOptions& options) {
  AudienceStore attributes(store);
  // Migrations run outside transactions: before the batches, whose transactions write the
  // values.
  TESSERA_RETURN_IF_ERROR(attributes.Migrate());
  ingest::AttributeSink sink;
  sink.check_name = [](std::string_view name) { return ValidateAttributeName(name); };
  std::vector<AttributeValue> values;  // reused from batch to batch
  sink.write = [&](store::Database&,
                   std::span<const ingest::PersonAttribute> batch) -> StatusOr<uint64_t> {
    values.clear();
    values.reserve(batch.size());
    for (const ingest::PersonAttribute& a : batch) {
      values.push_back(AttributeValue{a.customer, a.pseudonym, a.name, a.value});
    }
    return attributes.SetAttributesInTransaction(values);
  };
  return ingest::LoadPeople(store, key, files, options, sink);
}

}  // namespace tessera::audience
