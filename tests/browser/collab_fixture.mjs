// Writes what collaboration runs leave in a party's SQLite store, for the Partners screen's
// browser test: ε spent from a grant's budget this month (a committed reservation of the
// budget ledger) and entries of the hash-chained audit log. No command writes these yet
// outside a run between party nodes, so they are written here as the library does
// (include/tessera/collab/audit_log.h describes the chain: SHA-256 over a canonical encoding,
// each entry covering the one before, and a head row); `tessera audit verify` checks them.
//
// Usage: node collab_fixture.mjs STORE PARTNER_ID GRANT_ID  (the store's tables must exist:
// any command that opened it, such as `tessera party init`, made them).

import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";

const [store, partner, grant] = process.argv.slice(2);
if (!store || !/^tp1:[0-9a-f]{64}$/.test(partner ?? "") || !/^g_[0-9a-f]{16}$/.test(grant ?? "")) {
  throw new Error("usage: node collab_fixture.mjs STORE PARTNER_ID GRANT_ID");
}
const now = Math.floor(Date.now() / 1000);
const period = new Date(now * 1000).toISOString().slice(0, 7);  // the calendar month, UTC

function u64(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}
function bytes(value) {
  const b = Buffer.isBuffer(value) ? value : Buffer.from(value, "utf8");
  return Buffer.concat([u64(b.length), b]);
}
const sha256 = (data) => createHash("sha256").update(data).digest();

// The encoding each entry's hash covers (CanonicalAuditBytes in audit_log.h).
function entryHash(seq, r, previous) {
  return sha256(
    Buffer.concat([
      bytes("tessera/collab/audit/v1"),
      u64(seq),
      u64(r.time),
      bytes(r.party),
      bytes(r.grant_id),
      bytes(r.purpose),
      bytes(r.query_hash),
      u64(r.cells),
      u64(r.epsilon_micro),
      bytes(r.attestation),
      bytes(r.outcome),
      bytes(r.reason),
      bytes(previous),
    ]),
  );
}

const query = (text) => createHash("sha256").update(text).digest("hex");
const records = [
  { time: now - 3600, purpose: "audience_counts", query_hash: query("count 1"), cells: 6, epsilon_micro: 500000, attestation: "simulated", outcome: "ok", reason: "" },
  { time: now - 1800, purpose: "audience_counts", query_hash: query("count 2"), cells: 0, epsilon_micro: 0, attestation: "none", outcome: "refused", reason: "budget_exhausted" },
  { time: now - 600, purpose: "audience_counts", query_hash: query("count 3"), cells: 0, epsilon_micro: 0, attestation: "none", outcome: "failed", reason: "partner_unreachable" },
].map((r) => ({ ...r, party: partner, grant_id: grant }));

const sql = ["BEGIN IMMEDIATE;"];
const quote = (s) => `'${String(s).replace(/'/g, "''")}'`;
let previous = Buffer.alloc(32);
records.forEach((r, i) => {
  const seq = i + 1;
  const hash = entryHash(seq, r, previous);
  sql.push(
    `INSERT INTO collab_audit_log (seq, occurred_at, party, grant_id, purpose, query_hash, cells_returned, epsilon_micro, attestation, outcome, reason, previous_hash, entry_hash) VALUES (${seq}, ${r.time}, ${quote(r.party)}, ${quote(r.grant_id)}, ${quote(r.purpose)}, ${quote(r.query_hash)}, ${r.cells}, ${r.epsilon_micro}, ${quote(r.attestation)}, ${quote(r.outcome)}, ${quote(r.reason)}, X'${previous.toString("hex")}', X'${hash.toString("hex")}');`,
  );
  previous = hash;
});
sql.push(`UPDATE collab_audit_head SET entries = ${records.length}, head_hash = X'${previous.toString("hex")}' WHERE id = 1;`);
// The first run spent 0.5 of the grant's budget this month.
sql.push(`INSERT OR IGNORE INTO collab_budget_accounts (partner, grant_id, period) VALUES (${quote(partner)}, ${quote(grant)}, ${quote(period)});`);
sql.push(
  `INSERT INTO collab_budget_reservations (partner, grant_id, period, epsilon_micro, state, reserved_at, settled_at) VALUES (${quote(partner)}, ${quote(grant)}, ${quote(period)}, 500000, 'committed', ${now - 3600}, ${quote(new Date((now - 3590) * 1000).toISOString().replace(/\.\d+Z$/, "Z"))});`,
);
sql.push("COMMIT;");
execFileSync("sqlite3", [store], { input: sql.join("\n") + "\n", stdio: ["pipe", "inherit", "inherit"] });
