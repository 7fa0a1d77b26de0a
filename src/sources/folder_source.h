#pragma once

// A run of a folder source: ingest::LoadFolder over the source's folder, recorded like a pull.

#include "tessera/privacy/owner_key.h"
#include "tessera/sources/pull.h"
#include "tessera/sources/source_store.h"
#include "tessera/store/store.h"

namespace tessera::sources::internal {

// Loads the settled files of `config`'s folder and fills `run`'s counts: files loaded, refused
// and waiting, orders read (orders_seen) and stored, rows rejected. Returns an error when the run
// could not do its work (the folder missing or unwritable, the mapping unreadable, a failure of
// the store or the disk; the file being loaded then stays in the folder for the next run), named
// by the source. Refused files are no error: run.error lists them (name and why), and the caller
// records the outcome "refused".
//
// Privacy: the files hold raw identifiers and stay in the owner's folder (moved to loaded/ or
// failed/, never copied); only pseudonyms reach the store. Errors name the source, the file and
// the line, never a value of the input.
Status RunFolder(store::Store& store, const privacy::OwnerKey& key, const SourceConfig& config,
                 const RunOptions& options, SourceRun& run);

}  // namespace tessera::sources::internal
