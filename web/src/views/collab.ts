// What the Partners screen (partners.ts) and its grant form (grant_form.ts) share: the
// collaboration API's answers (docs/api.md, "Collaboration"), its codes in words, and ε as the
// reader writes it.
// Privacy: party ids, grant ids, attribute names and codes only.

import { h } from "../dom";
import { lang, t, type MessageKey } from "../i18n";

export type Role = "viewer" | "analyst" | "admin";

export interface PartyInfo {
  name: string;
  party_id: string;
  created_at: string;
  role: Role;
  can_sign_grants: boolean;
  collaboration: null | {
    parties: number;
    listed: boolean;
    name: string | null;
    endpoint: string | null;
    roles: string[];
  };
}

export interface Budget {
  period: string;
  budget: string;
  spent: string;
  reserved: string;
  remaining: string;
}

export interface Grant {
  grant_id: string;
  grantor: string;
  grantee: string;
  purpose: string;
  allowed_fields: string[];
  output_kinds: string[];
  k_min: number;
  differential_privacy?: { epsilon_per_query: string; budget_per_period: string; period: string };
  predicates: { max_breakdown_attributes?: number; max_category_depth?: number };
  recipients?: string[];
  worker_hosts?: string[];
  attestation_modes?: string[];
  expires: string;
  not_before: string;
  direction: "issued" | "received";
  revoked: null | { at: string; reason: string };
  state: "active" | "revoked" | "expired" | "not_yet_valid";
  budget: Budget | null;
}

// POST /api/v1/collab/grants answers the grant with the signed document to send the partner.
export interface CreatedGrant extends Grant {
  document: string;
}

export interface Party {
  name: string;
  party_id: string;
  endpoint: string;
  roles: string[];
  self: boolean;
  grants_issued: Grant[];
  grants_received: Grant[];
}

export interface Partners {
  party: { name: string; party_id: string };
  parties: Party[];
  grants_with_other_parties: number;
}

// --- Words for the API's codes

export const PURPOSES: Record<string, MessageKey> = {
  overlap: "purposeOverlap",
  audience_counts: "purposeAudienceCounts",
  activation: "purposeActivation",
  campaign_measurement: "purposeCampaignMeasurement",
};
export const OUTPUTS: Record<string, MessageKey> = {
  overlap_size: "outputOverlapSize",
  audience_count: "outputAudienceCount",
  cell_counts: "outputCellCounts",
  activation_list: "outputActivationList",
};
export const PARTY_ROLES: Record<string, MessageKey> = {
  data_owner: "partyRoleDataOwner",
  analyst: "partyRoleAnalyst",
  worker_host: "partyRoleWorkerHost",
};
export const ATTESTATION_MODES: Record<string, MessageKey> = {
  simulated: "attestationModeSimulated",
  "sgx-dcap": "attestationModeSgxDcap",
};

// A code in words, or the code itself (in code type) when this version does not know it.
export function word(table: Record<string, MessageKey>, code: string): Node | string {
  const key = table[code];
  return key ? t(key) : h("code", null, code);
}

export function words(table: Record<string, MessageKey>, codes: string[]): (Node | string)[] {
  const out: (Node | string)[] = [];
  codes.forEach((c, i) => {
    if (i > 0) out.push(", ");
    out.push(word(table, c));
  });
  return out;
}

// ε as the server writes it ("0.5"), in the reader's notation.
export function eps(text: string | null | undefined): string {
  if (text === null || text === undefined || text === "") return "–";
  return lang() === "de" ? text.replace(".", ",") : text;
}

// "0,5" or "0.5" -> "0.5"; "" -> null. German "1.000" and English "1,000" look like thousands
// and are refused rather than guessed (issue 17 #3).
export function parseEpsilon(text: string, language = lang()): { value: string | null; error: MessageKey | null } {
  const s = text.trim();
  if (!s) return { value: null, error: null };
  const m = /^(\d{1,9})(?:([.,])(\d{1,6}))?$/.exec(s);
  if (!m) return { value: null, error: "epsilonInvalid" };
  const [, whole, sep, frac] = m;
  const grouping = language === "de" ? "." : ",";
  if (sep === grouping && frac.length === 3) return { value: null, error: "epsilonAmbiguous" };
  const fraction = (frac ?? "").replace(/0+$/, "");
  const value = String(Number(whole)) + (fraction ? "." + fraction : "");
  if (/^0(\.0*)?$/.test(value)) return { value: null, error: "epsilonInvalid" };
  return { value, error: null };
}

// Two decimals as parseEpsilon writes them, compared exactly (at most nine digits and six
// decimals: no floating point needed).
export function compareDecimals(a: string, b: string): number {
  const micro = (s: string) => {
    const [whole, frac = ""] = s.split(".");
    return BigInt(whole) * 1_000_000n + BigInt((frac + "000000").slice(0, 6));
  };
  const d = micro(a) - micro(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}
