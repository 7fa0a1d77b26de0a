// Partners: this installation as a party of a collaboration (docs/collaboration.md), its
// partners with the grants in both directions and the privacy budget left, a form that signs a
// new grant, a joint audience builder that counts customers shared with a partner (aggregates
// only) and downloads this party's own customers of a joint audience for activation, and the
// hash-chained audit log with its verification. What the key may do is shown up front: a viewer
// reads, an analyst also counts and activates, an admin also creates and revokes grants and
// reads the audit log.
// Privacy: party ids, grant ids, attribute names, codes and counts of at least the grant's
// minimum cell size; the one exception is an activation list, this party's own customers'
// pseudonyms, which is handed to the browser as a file and not kept by the page.

import "./partners.css";

import { ApiError, getJson, postBlob, sendJson } from "../api";
import { clear, h } from "../dom";
import { date, int, rich } from "../format";
import { lang, t, type MessageKey } from "../i18n";
import {
  eps,
  OUTPUTS,
  parseEpsilon,
  PARTY_ROLES,
  PURPOSES,
  word,
  words,
  type Grant,
  type Partners,
  type Party,
  type PartyInfo,
  type Role,
} from "./collab";
import { errorBox, errorMessage, loading, noticeBox, type ViewContext } from "./common";
import { createdStatus, grantForm, takeCreated } from "./grant_form";

// --- The API's answers beside collab.ts's (docs/api.md, "Collaboration")

interface AuditEntry {
  sequence: number;
  time: string;
  party: string;
  grant_id: string;
  purpose: string;
  cells_returned: number;
  epsilon: string;
  attestation: string;
  outcome: "ok" | "refused" | "failed";
  reason: string;
  entry_hash: string;
}

interface AuditPage {
  entries: AuditEntry[];
  head: { entries: number; hash: string };
  next_after: number | null;
}

interface AuditVerification {
  ok: boolean;
  entries: number;
  head_hash: string;
  problem?: string;
  first_bad_sequence?: number;
}

// POST /api/v1/collab/count and /overlap.
interface JointResult {
  session: string;
  kind: "counts" | "overlap";
  dimensions: string[];
  cells: { labels: string[]; count: number }[];
  filtered_cells: number;
  k_min: number;
  noise: string;
  attestation: { mode: string; [key: string]: unknown };
  epsilon_spent: string | null;
}

// --- Words for the API's codes

const STATES: Record<Grant["state"], MessageKey> = {
  active: "grantActive",
  revoked: "grantRevoked",
  expired: "grantExpired",
  not_yet_valid: "grantNotYetValid",
};
const OUTCOMES: Record<string, MessageKey> = {
  ok: "outcomeOk",
  refused: "outcomeRefused",
  failed: "outcomeFailed",
};
// Why a request was refused or failed: the grants' refusal codes (collab/grant.h) and the runs'.
const REASONS: Record<string, MessageKey> = {
  no_grant: "reasonNoGrant",
  revoked: "reasonRevoked",
  wrong_grantee: "reasonWrongGrantee",
  purpose_not_allowed: "reasonPurposeNotAllowed",
  not_yet_valid: "reasonNotYetValid",
  expired: "reasonExpired",
  no_common_fields: "reasonNoCommonFields",
  no_common_output_kinds: "reasonNoCommonOutputKinds",
  no_common_recipients: "reasonNoCommonRecipients",
  no_common_worker_hosts: "reasonNoCommonWorkerHosts",
  no_common_attestation_modes: "reasonNoCommonAttestationModes",
  budget_exhausted: "reasonBudgetExhausted",
  partner_unreachable: "reasonPartnerUnreachable",
  below_min_cell_size: "reasonBelowMinCellSize",
  // An owner's refusals of a session (collab/session.cc) and the requester's own.
  activation_under_dp: "reasonActivationUnderDp",
  requester_not_owner: "reasonRequesterNotOwner",
  field_not_allowed: "reasonFieldNotAllowed",
  breakdown_not_allowed: "reasonBreakdownNotAllowed",
  category_too_deep: "reasonCategoryTooDeep",
  output_kind_not_allowed: "reasonOutputKindNotAllowed",
  recipient_not_allowed: "reasonRecipientNotAllowed",
  worker_host_not_allowed: "reasonWorkerHostNotAllowed",
  worker_host_unknown: "reasonWorkerHostUnknown",
  worker_binding_invalid: "reasonWorkerBindingInvalid",
  worker_host_busy: "reasonWorkerHostBusy",
  not_a_worker_host: "reasonWorkerHostUnknown",
  attestation_not_allowed: "reasonAttestationNotAllowed",
  epsilon_required: "reasonEpsilonRequired",
  epsilon_too_large: "reasonEpsilonTooLarge",
  k_min_too_small: "reasonKMinTooSmall",
};
const PROBLEMS: Record<string, MessageKey> = {
  entry_changed: "problemEntryChanged",
  entry_missing: "problemEntryMissing",
  reordered: "problemReordered",
  chain_broken: "problemChainBroken",
  truncated: "problemTruncated",
  head_mismatch: "problemHeadMismatch",
  unrecorded_entries: "problemUnrecordedEntries",
  anchor_mismatch: "problemAnchorMismatch",
};

// 250000 -> "0.25", exactly.
function microToDecimal(micro: number): string {
  const fraction = String(micro % 1_000_000).padStart(6, "0").replace(/0+$/, "");
  return String(Math.floor(micro / 1_000_000)) + (fraction ? "." + fraction : "");
}

function shortId(id: string): string {
  return id.length > 16 ? id.slice(0, 12) + "…" + id.slice(-4) : id;
}

function dateTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(lang() === "de" ? "de-DE" : "en-GB", {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    timeZone: "UTC",
    timeZoneName: "short",
  }).format(d);
}

// --- The screen

// What the joint builder holds while the screen is redrawn (a language switch, a revocation).
const draft = {
  partner: "",
  identifier: "email",
  own: "",
  partnerSide: "",
  breakdown: ["", ""],
  epsilon: "",
};
// Set before a redraw, shown after it (the outcome of a revocation).
let draftStatus = "";

export async function renderPartners(main: HTMLElement, ctx: ViewContext): Promise<void> {
  main.append(loading());
  let party: PartyInfo;
  try {
    party = await getJson<PartyInfo>("collab/party");
  } catch (err) {
    if (!ctx.alive()) return;
    clear(main);
    const screen = h("div", { class: "partners-screen", id: "partners" }, pageHead());
    main.append(screen);
    if (err instanceof ApiError && err.status === 404 && err.code === "no_party") {
      screen.append(noticeBox(t("partnersNoParty")));
    } else {
      screen.append(errorBox(err, () => ctx.navigate(location.hash)));
    }
    return;
  }
  let partners: Partners | null = null;
  let partnersError: unknown = null;
  if (party.collaboration) {
    try {
      partners = await getJson<Partners>("collab/partners");
    } catch (err) {
      partnersError = err;
    }
  }
  if (!ctx.alive()) return;
  clear(main);
  const screen = h("div", { class: "partners-screen", id: "partners", "data-role": party.role });
  main.append(screen);
  const names = new Map<string, string>();
  for (const p of partners?.parties ?? []) names.set(p.party_id, p.name);
  names.set(party.party_id, party.name);

  screen.append(pageHead());
  const note = roleNote(party.role);
  if (note) screen.append(note);
  screen.append(partyCard(party));
  if (!party.collaboration) {
    screen.append(noticeBox(t("partnersNoCollaboration")));
  } else if (partnersError) {
    screen.append(errorBox(partnersError, () => ctx.navigate(location.hash)));
  } else if (partners) {
    const others = partners.parties.filter((p) => !p.self);
    const status = h("p", { id: "grant-status", class: "grant-status", role: "status", tabindex: "-1" });
    screen.append(status);
    if (others.length === 0) screen.append(noticeBox(t("partnersNone")));
    const dialog = revokeDialog();
    for (const [i, p] of others.entries()) {
      screen.append(partnerCard(p, i, party.role, async (g) => {
        const reason = await dialog.ask(g, p.name);
        if (reason === null) return;
        try {
          await sendJson("POST", `collab/grants/${encodeURIComponent(g.grant_id)}/revoke`, { reason });
          draftStatus = t("revokedGrant", { id: g.grant_id, partner: p.name });
          ctx.navigate(location.hash);
        } catch (err) {
          clear(status);
          status.dataset.kind = "error";
          status.append(
            err instanceof ApiError && err.status === 403 ? t("revokeNeedsAdmin") : t("revokeFailed", { message: errorMessage(err) }),
          );
        }
      }));
    }
    const justCreated = takeCreated();
    if (draftStatus || justCreated) {
      status.dataset.kind = "ok";
      status.append(...(justCreated ? createdStatus(justCreated) : [draftStatus]));
      draftStatus = "";
      // The button pressed is gone with the redraw: the outcome takes the focus.
      queueMicrotask(() => status.focus());
    }
    if (partners.grants_with_other_parties > 0) {
      screen.append(h("p", { class: "muted small" }, rich(t("grantsWithOthers", { n: int(partners.grants_with_other_parties) }))));
    }
    if (others.length > 0) {
      screen.append(grantForm(party, others, partners.parties, () => ctx.navigate(location.hash)));
      screen.append(jointCard(party, others, ctx));
    }
    screen.append(dialog.element);
  }
  screen.append(auditCard(party.role, names, ctx));
}

function pageHead(): HTMLElement {
  return h(
    "div",
    { class: "page-head" },
    h("div", null, h("h1", null, t("partnersTitle")), h("p", { class: "muted" }, t("partnersIntro"))),
  );
}

function roleNote(role: Role): HTMLElement | null {
  if (role === "admin") return null;
  return h(
    "div",
    { class: "message notice role-note", role: "note", id: "role-note", "data-role": role },
    h("p", null, rich(t(role === "viewer" ? "roleViewerCollab" : "roleAnalystCollab"))),
  );
}

function partyCard(party: PartyInfo): HTMLElement {
  const id = h("code", { id: "party-id", class: "party-id" }, party.party_id);
  const copyStatus = h("span", { id: "copy-status", class: "muted small", role: "status" });
  const copy = h("button", { type: "button", class: "secondary small-button", id: "copy-party-id" }, t("copyId"));
  copy.addEventListener("click", async () => {
    clear(copyStatus);
    let copied = false;
    try {
      await navigator.clipboard.writeText(party.party_id);
      copied = true;
    } catch {
      // No clipboard access (an insecure origin, a denied permission): select it for Ctrl+C.
      const range = document.createRange();
      range.selectNodeContents(id);
      const selection = window.getSelection();
      selection?.removeAllRanges();
      selection?.addRange(range);
    }
    copyStatus.append(copied ? t("copied") : t("copyByHand"));
  });
  const c = party.collaboration;
  const facts: [MessageKey, Node | string | (Node | string)[]][] = [
    ["partyName", h("span", { id: "party-name" }, party.name)],
    ["partyId", h("span", { class: "party-id-row" }, id, copy, copyStatus)],
  ];
  if (c?.listed) {
    facts.push(["partyRoles", words(PARTY_ROLES, c.roles)]);
    if (c.endpoint) facts.push(["endpoint", h("code", { class: "endpoint" }, c.endpoint)]);
  }
  facts.push(["partySince", date(party.created_at)]);
  return h(
    "section",
    { class: "card party-card", id: "party-card", "aria-labelledby": "party-title" },
    h("h2", { id: "party-title" }, t("thisParty")),
    h(
      "dl",
      { class: "facts" },
      facts.flatMap(([label, value]) => [h("dt", null, t(label)), h("dd", null, value)]),
    ),
    c && !c.listed ? h("div", { class: "message error", role: "alert" }, h("p", null, t("partyNotListed"))) : null,
    h("p", { class: "muted small" }, t("partyIdHint")),
  );
}

function partnerCard(p: Party, index: number, role: Role, revoke: (g: Grant) => void): HTMLElement {
  const titleId = `partner-title-${index}`;
  return h(
    "section",
    { class: "card partner-card", id: `partner-${index}`, "data-party-id": p.party_id, "data-name": p.name, "aria-labelledby": titleId },
    h(
      "div",
      { class: "partner-head" },
      h("h2", { id: titleId }, p.name),
      h("span", { class: "badges" }, p.roles.map((r) => h("span", { class: "badge", "data-role": r }, word(PARTY_ROLES, r)))),
    ),
    h(
      "p",
      { class: "muted small partner-meta" },
      h("span", null, t("partyId"), ": ", h("code", { title: p.party_id }, shortId(p.party_id))),
      h("span", null, t("endpoint"), ": ", h("code", null, p.endpoint)),
    ),
    h("h3", { class: "grants-head" }, t("grantsIssuedTo", { partner: p.name })),
    grantTable(p.grants_issued, "issued", index, role, revoke),
    h("h3", { class: "grants-head" }, t("grantsReceivedFrom", { partner: p.name })),
    grantTable(p.grants_received, "received", index, role, revoke),
  );
}

function grantTable(grants: Grant[], direction: "issued" | "received", index: number, role: Role, revoke: (g: Grant) => void): HTMLElement {
  if (grants.length === 0) {
    return h("p", { class: "muted small", id: `grants-${direction}-${index}` }, rich(t(direction === "issued" ? "noGrantsIssued" : "noGrantsReceived")));
  }
  const issued = direction === "issued";
  const admin = role === "admin";
  const columns: MessageKey[] = ["grant", "purpose", "outputs", "fields", "kMin", "epsilonPerQuery", "budgetPerMonth"];
  if (issued) columns.push("budgetLeft");
  columns.push("expires", "state");
  if (issued && admin) columns.push("actions");
  const body = h("tbody");
  for (const g of grants) {
    const dp = g.differential_privacy;
    const cells: [MessageKey, Node | string | (Node | string)[], string?][] = [
      ["grant", h("code", null, g.grant_id)],
      ["purpose", word(PURPOSES, g.purpose)],
      ["outputs", words(OUTPUTS, g.output_kinds)],
      [
        "fields",
        g.allowed_fields.length
          ? g.allowed_fields.flatMap((f, i) => [i ? ", " : "", h("code", { class: "field-name" }, f)])
          : h("span", { class: "muted" }, t("noFields")),
      ],
      ["kMin", int(g.k_min), "num"],
      ["epsilonPerQuery", dp ? eps(dp.epsilon_per_query) : h("span", { class: "muted" }, t("noNoise")), "num"],
      ["budgetPerMonth", dp ? eps(dp.budget_per_period) : "–", "num"],
    ];
    if (issued) {
      cells.push([
        "budgetLeft",
        g.budget
          ? h("span", { class: "budget-left", "data-remaining": g.budget.remaining }, t("budgetLeftOf", { left: eps(g.budget.remaining), budget: eps(g.budget.budget) }))
          : "–",
        "num",
      ]);
    }
    cells.push(["expires", h("time", { datetime: g.expires }, date(g.expires))]);
    cells.push([
      "state",
      h(
        "span",
        { class: "state" },
        h("span", { class: `badge state-${g.state}` }, t(STATES[g.state])),
        g.revoked
          ? h("span", { class: "muted small revoked-note" }, " ", t("revokedOn", { date: date(g.revoked.at) }), g.revoked.reason ? ` – ${g.revoked.reason}` : "")
          : null,
      ),
    ]);
    if (issued && admin) {
      const canRevoke = g.state === "active" || g.state === "not_yet_valid";
      cells.push([
        "actions",
        canRevoke
          ? h(
              "button",
              {
                type: "button",
                class: "secondary danger small-button",
                "data-action": "revoke",
                "aria-label": t("revokeGrantLabel", { id: g.grant_id }),
                onclick: () => revoke(g),
              },
              t("revoke"),
            )
          : "",
      ]);
    }
    body.append(
      h(
        "tr",
        { "data-grant": g.grant_id, "data-state": g.state },
        // One element per value, so that a phone's stacked layout keeps it in one piece.
        cells.map(([label, value, cls]) => h("td", { "data-label": t(label), class: cls ?? null }, h("span", null, value))),
      ),
    );
  }
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "data grants-table", id: `grants-${direction}-${index}` },
      h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col", class: ["kMin", "epsilonPerQuery", "budgetPerMonth", "budgetLeft"].includes(c) ? "num" : null }, t(c))))),
      body,
    ),
  );
}

// Asks for confirmation and an optional reason; resolves to the reason, or null for Cancel.
function revokeDialog(): { element: HTMLElement; ask: (g: Grant, partner: string) => Promise<string | null> } {
  const title = h("h2", { id: "revoke-title" });
  const detail = h("p", { class: "muted", id: "revoke-detail" });
  const reason = h("input", { id: "revoke-reason", type: "text", maxlength: 200, autocomplete: "off" });
  const cancel = h("button", { type: "button", class: "secondary", id: "revoke-cancel" }, t("cancel"));
  const ok = h("button", { type: "button", class: "danger-solid", id: "revoke-ok" }, t("revoke"));
  const dialog = h(
    "dialog",
    { class: "confirm", id: "revoke-dialog", "aria-labelledby": "revoke-title", "aria-describedby": "revoke-detail" },
    title,
    detail,
    h("label", { class: "field", for: "revoke-reason" }, t("revokeReason")),
    reason,
    h("div", { class: "dialog-actions" }, cancel, ok),
  );
  let resolve: ((value: string | null) => void) | null = null;
  const close = (value: string | null) => {
    if (dialog.open) dialog.close();
    resolve?.(value);
    resolve = null;
  };
  cancel.addEventListener("click", () => close(null));
  ok.addEventListener("click", () => close(reason.value.trim()));
  reason.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      close(reason.value.trim());
    }
  });
  dialog.addEventListener("close", () => close(null));
  return {
    element: dialog,
    ask: (g, partner) => {
      title.textContent = t("revokeQuestion", { id: g.grant_id, partner });
      detail.textContent = t("revokeExplain", { partner });
      reason.value = "";
      const opener = document.activeElement as HTMLElement | null;
      dialog.showModal();
      cancel.focus();
      return new Promise((r) => {
        resolve = (value) => {
          r(value);
          if (value === null) opener?.focus();
        };
      });
    },
  };
}

// --- The joint audience builder

function activeFields(grants: Grant[]): string[] {
  const out = new Set<string>();
  for (const g of grants) if (g.state === "active") for (const f of g.allowed_fields) out.add(f);
  return [...out].sort();
}

function jointCard(party: PartyInfo, partners: Party[], ctx: ViewContext): HTMLElement {
  const canCount = party.role !== "viewer";
  if (!partners.some((p) => p.party_id === draft.partner)) draft.partner = partners[0].party_id;
  const partnerSelect = h(
    "select",
    { id: "joint-partner", name: "partner" },
    partners.map((p) => h("option", { value: p.party_id }, p.name)),
  );
  partnerSelect.value = draft.partner;
  const identifier = h(
    "fieldset",
    { class: "joint-identifier" },
    h("legend", null, t("identifierKind")),
    (["email", "phone"] as const).map((kind) =>
      h(
        "label",
        { class: "radio" },
        h("input", { type: "radio", name: "joint-identifier", value: kind, id: `joint-identifier-${kind}`, checked: draft.identifier === kind }),
        " ",
        t(kind === "email" ? "identifierEmail" : "identifierPhone"),
      ),
    ),
  );
  const own = h("textarea", {
    id: "joint-own",
    rows: 2,
    spellcheck: "false",
    autocomplete: "off",
    autocapitalize: "off",
    placeholder: t("ownExpressionPlaceholder"),
    "aria-describedby": "joint-own-fields",
  });
  own.value = draft.own;
  const other = h("textarea", {
    id: "joint-partner-expression",
    rows: 2,
    spellcheck: "false",
    autocomplete: "off",
    autocapitalize: "off",
    placeholder: t("partnerExpressionPlaceholder"),
    "aria-describedby": "joint-partner-fields",
  });
  other.value = draft.partnerSide;
  const ownFields = h("div", { id: "joint-own-fields", class: "field-hints" });
  const partnerFields = h("div", { id: "joint-partner-fields", class: "field-hints" });
  const breakdowns = [0, 1].map((i) =>
    h("select", { id: `joint-breakdown-${i + 1}`, "aria-label": t("breakdownN", { n: i + 1 }) }),
  );
  const epsilon = h("input", {
    id: "joint-epsilon",
    type: "text",
    inputmode: "decimal",
    autocomplete: "off",
    placeholder: eps("0.5"),
    "aria-describedby": "joint-epsilon-help",
  });
  epsilon.value = draft.epsilon;
  const formError = h("p", { id: "joint-form-error", class: "field-error", role: "alert" });
  const countButton = h("button", { type: "submit", id: "joint-count" }, t("jointCount"));
  const overlapButton = h("button", { type: "button", class: "secondary", id: "joint-overlap" }, t("jointOverlap"));
  const activateButton = h(
    "button",
    { type: "button", class: "secondary", id: "joint-activate", "aria-describedby": "joint-activate-hint" },
    t("jointActivate"),
  );
  const activateHint = h("p", { class: "muted small joint-activate-hint", id: "joint-activate-hint" });
  const result = h("div", { id: "joint-result", class: "joint-result", "aria-live": "polite" });

  const current = () => partners.find((p) => p.party_id === partnerSelect.value) ?? partners[0];
  // A list goes only to the owner of the customers listed: this party, a data owner, matched
  // with another data owner (docs/collaboration.md, "Activation").
  const weOwn = party.collaboration?.roles.includes("data_owner") ?? false;
  const canActivate = () => canCount && weOwn && current().roles.includes("data_owner");
  const hintButtons = (fields: string[], target: HTMLTextAreaElement) =>
    fields.map((f) =>
      h(
        "button",
        {
          type: "button",
          class: "chip field-chip",
          "data-field": f,
          "aria-label": t("insertField", { field: f }),
          onclick: () => {
            const at = target.selectionStart ?? target.value.length;
            const before = target.value.slice(0, at);
            const pad = before && !/\s$/.test(before) ? " " : "";
            target.value = before + pad + f + target.value.slice(target.selectionEnd ?? at);
            target.focus();
            target.dispatchEvent(new Event("input"));
          },
        },
        f,
      ),
    );
  const refresh = () => {
    const p = current();
    const mine = activeFields(p.grants_issued);
    const theirs = activeFields(p.grants_received);
    clear(ownFields);
    clear(partnerFields);
    ownFields.append(
      h("span", { class: "muted small" }, mine.length ? t("fieldsYouAllow", { partner: p.name }) : t("fieldsYouAllowNone", { partner: p.name })),
      " ",
      ...hintButtons(mine, own),
    );
    partnerFields.append(
      h("span", { class: "muted small" }, theirs.length ? t("fieldsPartnerAllows", { partner: p.name }) : t("fieldsPartnerAllowsNone", { partner: p.name })),
      " ",
      ...hintButtons(theirs, other),
    );
    for (const [i, select] of breakdowns.entries()) {
      const chosen = draft.breakdown[i];
      clear(select);
      select.append(h("option", { value: "" }, t("noBreakdown")));
      if (mine.length) {
        select.append(h("optgroup", { label: t("ourFields") }, mine.map((f) => h("option", { value: "own:" + f }, f))));
      }
      if (theirs.length) {
        select.append(
          h("optgroup", { label: t("partnerFieldsOf", { partner: p.name }) }, theirs.map((f) => h("option", { value: "partner:" + f }, f))),
        );
      }
      select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
    }
    clear(activateHint);
    activateHint.append(activationHint(p, weOwn));
    activateButton.disabled = !canActivate();
  };
  const save = () => {
    draft.partner = partnerSelect.value;
    draft.identifier = (identifier.querySelector("input:checked") as HTMLInputElement | null)?.value ?? "email";
    draft.own = own.value;
    draft.partnerSide = other.value;
    draft.breakdown = breakdowns.map((b) => b.value);
    draft.epsilon = epsilon.value;
  };
  partnerSelect.addEventListener("change", () => {
    save();
    refresh();
  });
  for (const el of [own, other, epsilon]) el.addEventListener("input", save);
  for (const el of [...breakdowns, identifier]) el.addEventListener("change", save);
  refresh();

  const run = async (kind: "count" | "overlap" | "activate") => {
    save();
    clear(formError);
    epsilon.removeAttribute("aria-invalid");
    if (kind === "activate") return activate();
    const e = parseEpsilon(epsilon.value);
    if (kind === "count" && e.error) {
      formError.append(t(e.error));
      epsilon.setAttribute("aria-invalid", "true");
      epsilon.focus();
      return;
    }
    const chosen = breakdowns.map((b) => b.value).filter(Boolean);
    if (new Set(chosen).size !== chosen.length) {
      formError.append(t("breakdownTwice"));
      breakdowns[1].focus();
      return;
    }
    const p = current();
    const body =
      kind === "count"
        ? {
            partner: p.party_id,
            identifier: draft.identifier,
            own: { expression: own.value.trim(), breakdown: chosen.filter((c) => c.startsWith("own:")).map((c) => c.slice(4)) },
            partner_side: {
              expression: other.value.trim(),
              breakdown: chosen.filter((c) => c.startsWith("partner:")).map((c) => c.slice(8)),
            },
            epsilon: e.value,
          }
        : { partner: p.party_id, identifier: draft.identifier };
    countButton.disabled = true;
    overlapButton.disabled = true;
    clear(result);
    result.dataset.state = "running";
    result.append(h("p", { class: "loading", role: "status" }, t("jointRunning", { partner: p.name })));
    try {
      const answer = await sendJson<JointResult>("POST", kind === "count" ? "collab/count" : "collab/overlap", body);
      if (!ctx.alive()) return;
      clear(result);
      if (answer) {
        result.dataset.state = "ok";
        result.append(jointResult(answer));
      }
    } catch (err) {
      if (!ctx.alive()) return;
      clear(result);
      result.dataset.state = "error";
      result.append(jointError(err, p.name));
    } finally {
      countButton.disabled = !canCount;
      overlapButton.disabled = !canCount;
      activateButton.disabled = !canActivate();
    }
  };

  // This party's own customers of the joint audience, saved as a file the moment they arrive
  // and not kept by the page (as an audience export is).
  const activate = async () => {
    if (epsilon.value.trim()) {
      formError.append(t("activationNoEpsilon"));
      epsilon.setAttribute("aria-invalid", "true");
      epsilon.focus();
      return;
    }
    const p = current();
    const brokenDown = breakdowns.some((b) => b.value);
    const body = {
      partner: p.party_id,
      identifier: draft.identifier,
      own: { expression: own.value.trim() },
      partner_side: { expression: other.value.trim() },
    };
    countButton.disabled = true;
    overlapButton.disabled = true;
    activateButton.disabled = true;
    clear(result);
    result.dataset.state = "running";
    result.append(h("p", { class: "loading", role: "status" }, t("activationRunning", { partner: p.name })));
    try {
      const { blob, filename, headers } = await postBlob("collab/activate", body, { format: "csv" });
      if (!ctx.alive()) return;
      const name = filename ?? "activation.csv";
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      // The server counts them in a header; else the lines under the CSV's header row.
      const counted = headers.get("X-Tessera-Activation-Count");
      const count = counted !== null && /^\d+$/.test(counted)
        ? Number(counted)
        : Math.max(0, (await blob.text()).split("\n").filter((l) => l.trim()).length - 1);
      clear(result);
      result.dataset.state = "ok";
      result.append(activationResult(count, name, p.name, brokenDown));
    } catch (err) {
      if (!ctx.alive()) return;
      clear(result);
      result.dataset.state = "error";
      result.append(jointError(err, p.name, true));
    } finally {
      countButton.disabled = !canCount;
      overlapButton.disabled = !canCount;
      activateButton.disabled = !canActivate();
    }
  };
  const form = h(
    "form",
    { id: "joint-form", class: "joint-form", novalidate: true },
    h(
      "fieldset",
      { class: "plain", disabled: !canCount },
      h("div", { class: "joint-row" }, h("label", { class: "field", for: "joint-partner" }, h("span", null, t("partner")), partnerSelect), identifier),
      h(
        "div",
        { class: "joint-sides" },
        h("div", { class: "joint-side" }, h("label", { class: "field", for: "joint-own" }, t("ownExpression")), own, ownFields),
        h("div", { class: "joint-side" }, h("label", { class: "field", for: "joint-partner-expression" }, t("partnerExpression")), other, partnerFields),
      ),
      h(
        "div",
        { class: "joint-row" },
        h("fieldset", { class: "joint-breakdown" }, h("legend", null, t("breakdownBy")), breakdowns),
        h(
          "div",
          { class: "joint-epsilon" },
          h("label", { class: "field", for: "joint-epsilon" }, t("epsilonOptional")),
          epsilon,
          h("p", { class: "muted small", id: "joint-epsilon-help" }, t("epsilonHelp")),
        ),
      ),
      formError,
      h("div", { class: "joint-actions" }, countButton, overlapButton, activateButton),
      activateHint,
    ),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    run("count");
  });
  overlapButton.addEventListener("click", () => run("overlap"));
  activateButton.addEventListener("click", () => run("activate"));
  return h(
    "section",
    { class: "card joint-card", id: "joint-card", "aria-labelledby": "joint-title" },
    h("h2", { id: "joint-title" }, t("jointTitle")),
    h("p", { class: "muted" }, t("jointIntro")),
    canCount ? null : h("div", { class: "message notice", role: "note", id: "joint-needs-analyst" }, h("p", null, rich(t("jointNeedsAnalyst")))),
    form,
    result,
  );
}

function jointResult(r: JointResult): HTMLElement {
  const simulated = r.attestation?.mode === "simulated";
  const overlap = r.kind === "overlap" && r.dimensions.length === 0 && r.cells.length <= 1;
  const table = h(
    "table",
    { class: "data joint-cells", id: "joint-cells" },
    h("caption", { class: "visually-hidden" }, t("jointCellsCaption")),
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        r.dimensions.map((d) => h("th", { scope: "col" }, h("code", null, d))),
        h("th", { scope: "col", class: "num" }, t("customers")),
      ),
    ),
    h(
      "tbody",
      null,
      r.cells.map((c) =>
        h(
          "tr",
          { "data-count": c.count },
          c.labels.map((l) => h("th", { scope: "row" }, l)),
          h("td", { class: "num" }, int(c.count)),
        ),
      ),
    ),
  );
  return h(
    "section",
    { class: "joint-answer", "data-kind": r.kind, "aria-labelledby": "joint-answer-title" },
    h("h3", { id: "joint-answer-title" }, t(r.kind === "overlap" ? "jointOverlapTitle" : "jointCountsTitle")),
    simulated
      ? h(
          "div",
          { class: "attestation-simulated", id: "joint-attestation", role: "note", "data-mode": "simulated" },
          h("strong", null, t("attestationSimulated")),
          " ",
          h("span", null, t("attestationSimulatedExplain")),
        )
      : h(
          "p",
          { class: "attestation", id: "joint-attestation", "data-mode": r.attestation?.mode ?? "" },
          t("attestationMode", { mode: r.attestation?.mode ?? "–" }),
        ),
    overlap
      ? h(
          "p",
          { class: "joint-overlap-size", id: "joint-overlap-size" },
          h("span", { class: "aud-size-value" }, r.cells.length ? int(r.cells[0].count) : "–"),
          " ",
          h("span", { class: "aud-size-unit" }, t("customersInBoth")),
        )
      : r.cells.length
        ? h("div", { class: "table-scroll" }, table)
        : h("p", { class: "muted" }, t("noCellsReleased")),
    h("p", { id: "joint-filtered", "data-filtered": r.filtered_cells }, t(r.filtered_cells === 1 ? "filteredCellsOne" : "filteredCells", { n: int(r.filtered_cells), k: int(r.k_min) })),
    h(
      "p",
      { id: "joint-noise", "data-noise": r.noise },
      t("noiseLabel"),
      ": ",
      r.noise === "none" ? t("noiseNone") : h("code", null, r.noise),
    ),
    r.epsilon_spent !== null && r.epsilon_spent !== undefined
      ? h("p", { id: "joint-epsilon-spent" }, t("epsilonSpent", { epsilon: eps(r.epsilon_spent) }))
      : null,
    h("p", { class: "muted small" }, t("session"), ": ", h("code", null, r.session)),
  );
}

// Whether the partner's grants allow this party a list, before it is asked for.
function activationHint(p: Party, weOwn: boolean): string {
  if (!weOwn) return t("activationNotDataOwner");
  if (!p.roles.includes("data_owner")) return t("activationPartnerNotOwner", { partner: p.name });
  const grants = p.grants_received.filter((g) => g.state === "active" && g.purpose === "activation");
  if (grants.length === 0) return t("activationNotGranted", { partner: p.name });
  // The strictest grant wins: one with differential privacy allows no list at all.
  if (grants.some((g) => g.differential_privacy)) return t("activationGrantDp", { partner: p.name });
  return t("activationGranted", { partner: p.name });
}

function activationResult(count: number, file: string, partner: string, brokenDown: boolean): HTMLElement {
  return h(
    "section",
    { class: "joint-answer", id: "activation-result", "data-kind": "activation", "data-count": count, "aria-labelledby": "activation-title" },
    h("h3", { id: "activation-title" }, t("activationTitle")),
    h(
      "p",
      { class: "joint-overlap-size", id: "activation-count" },
      h("span", { class: "aud-size-value" }, int(count)),
      " ",
      h("span", { class: "aud-size-unit" }, t("activationCount", { partner })),
    ),
    h("p", { id: "activation-file" }, rich(t("activationSaved", { file }))),
    brokenDown ? h("p", { class: "muted small", id: "activation-no-breakdown" }, t("activationNoBreakdown")) : null,
  );
}

// Why an activation list was not released, where it differs from a count's refusal.
function activationRefusal(err: ApiError, reason: string, partner: string): string | null {
  if (err.code === "below_min_cell_size" || err.details.withheld === true) {
    const k = Number(err.details.k_min);
    return Number.isSafeInteger(k) && k > 0 ? t("activationWithheld", { k: int(k) }) : t("activationWithheldNoK");
  }
  if (reason === "no_grant") return t("activationNoGrant", { partner });
  if (reason === "activation_under_dp") return t("activationUnderDp", { partner });
  if (reason === "requester_not_owner") return t("activationNotOwner");
  if (err.status === 403 && err.code === "forbidden") return t("activationNeedsAnalyst");
  return null;
}

// Why a joint request was refused or failed, in words; null when there are none for it here.
function jointRefusal(err: ApiError, reason: string, partner: string): string | null {
  const code = err.code;
  if (err.status === 403 && code === "forbidden") return t("jointNeedsAnalyst");
  if (code === "partner_unreachable" || reason === "partner_unreachable" || err.status === 502 || err.status === 504) {
    return t("partnerUnreachable", { partner });
  }
  if (code === "budget_exhausted" || reason === "budget_exhausted") {
    // What is left, as an exact decimal ("remaining") or in micro-ε as the ledger counts it.
    const micro = err.details.remaining_micro;
    const left =
      typeof err.details.remaining === "string"
        ? err.details.remaining
        : typeof micro === "number" && Number.isSafeInteger(micro) && micro >= 0
          ? microToDecimal(micro)
          : null;
    return left ? t("budgetExhaustedLeft", { left: eps(left) }) : t("budgetExhausted");
  }
  if (reason && REASONS[reason]) return t("refusedByGrant", { reason: t(REASONS[reason]) });
  if (code === "no_collaboration") return t("partnersNoCollaboration");
  return null;
}

// A refused or failed joint request, in words, in the error display of the other screens.
function jointError(err: unknown, partner: string, activation = false): HTMLElement {
  let text: string | null = null;
  let code = "";
  let reason = "";
  if (err instanceof ApiError) {
    code = err.code;
    reason = typeof err.details.reason === "string" ? err.details.reason : "";
    text = (activation ? activationRefusal(err, reason, partner) : null) ?? jointRefusal(err, reason, partner);
  }
  return h(
    "div",
    {
      class: "message error",
      role: "alert",
      id: "joint-error",
      "data-status": err instanceof ApiError ? err.status : -1,
      "data-code": code,
      "data-reason": reason || null,
    },
    h("p", null, rich(text ?? errorMessage(err))),
  );
}

// --- The audit log

function auditCard(role: Role, names: Map<string, string>, ctx: ViewContext): HTMLElement {
  const card = h(
    "section",
    { class: "card audit-card", id: "audit-card", "aria-labelledby": "audit-title" },
    h("h2", { id: "audit-title" }, t("auditTitle")),
    h("p", { class: "muted" }, t("auditIntro")),
  );
  if (role !== "admin") {
    card.append(h("div", { class: "message notice", role: "note", id: "audit-needs-admin" }, h("p", null, rich(t("auditNeedsAdmin")))));
    return card;
  }
  const verification = h("div", { id: "audit-verification", class: "audit-verification", role: "status" }, t("loading"));
  const body = h("div", { id: "audit-body" });
  card.append(verification, body);
  const limit = Math.min(1000, Math.max(1, Number(ctx.params.get("audit_limit")) || 25));
  let page = 0;  // 0: the newest entries
  let total = 0;

  const load = async () => {
    clear(body);
    body.append(loading());
    try {
      // The page from the end: entries after `after`, newest first on screen.
      const after = Math.max(0, total - (page + 1) * limit);
      const count = Math.min(limit, total - page * limit);
      const answer = total === 0 ? null : await getJson<AuditPage>("collab/audit", { after, limit: Math.max(1, count) });
      if (!ctx.alive()) return;
      clear(body);
      body.append(auditTable(answer?.entries ?? [], names));
      const first = total === 0 ? 0 : after + 1;
      const last = total === 0 ? 0 : after + count;
      const newer = h("button", { type: "button", class: "secondary small-button", id: "audit-newer", disabled: page === 0 }, t("auditNewer"));
      const older = h("button", { type: "button", class: "secondary small-button", id: "audit-older", disabled: after === 0 }, t("auditOlder"));
      // The pager is drawn anew: the keyboard stays on the button pressed, or on the other
      // one when the end has been reached.
      const refocus = (pressed: string, other: string) => {
        const b = document.getElementById(pressed) as HTMLButtonElement | null;
        (b && !b.disabled ? b : document.getElementById(other))?.focus();
      };
      newer.addEventListener("click", () => {
        page--;
        load().then(() => refocus("audit-newer", "audit-older"));
      });
      older.addEventListener("click", () => {
        page++;
        load().then(() => refocus("audit-older", "audit-newer"));
      });
      if (total > limit) {
        body.append(
          h(
            "div",
            { class: "pager" },
            newer,
            h("span", { id: "audit-range", class: "muted small" }, t("auditRange", { first: int(first), last: int(last), total: int(total) })),
            older,
          ),
        );
      }
    } catch (err) {
      if (!ctx.alive()) return;
      clear(body);
      body.append(errorBox(err, () => load()));
    }
  };

  (async () => {
    try {
      const v = await getJson<AuditVerification>("collab/audit/verify");
      if (!ctx.alive()) return;
      total = v.entries;
      clear(verification);
      verification.dataset.ok = String(v.ok);
      verification.className = `audit-verification ${v.ok ? "ok" : "bad"}`;
      if (v.ok) {
        verification.append(
          h("strong", null, t("auditIntact", { n: int(v.entries) })),
          " ",
          h("span", { class: "small" }, t("auditHead"), ": ", h("code", { title: v.head_hash }, v.head_hash.slice(0, 16) + "…")),
        );
      } else {
        verification.setAttribute("role", "alert");
        verification.append(
          h("strong", null, t("auditDamaged", { n: int(v.first_bad_sequence ?? 0) })),
          " ",
          h("span", null, v.problem ? word(PROBLEMS, v.problem) : ""),
        );
      }
      await load();
    } catch (err) {
      if (!ctx.alive()) return;
      clear(verification);
      verification.append(errorBox(err, () => ctx.navigate(location.hash)));
    }
  })();
  return card;
}

function auditTable(entries: AuditEntry[], names: Map<string, string>): HTMLElement {
  if (entries.length === 0) return h("p", { class: "muted", id: "audit-empty" }, t("auditEmpty"));
  const columns: MessageKey[] = ["auditSequence", "auditTime", "auditParty", "purpose", "grant", "auditCells", "auditEpsilon", "auditAttestation", "auditOutcome"];
  const rows = [...entries].reverse().map((e) =>
    h(
      "tr",
      { "data-sequence": e.sequence, "data-outcome": e.outcome },
      h("td", { class: "num", "data-label": t("auditSequence") }, int(e.sequence)),
      h("td", { "data-label": t("auditTime") }, h("time", { datetime: e.time }, dateTime(e.time))),
      h("td", { "data-label": t("auditParty") }, names.get(e.party) ?? h("code", { title: e.party }, shortId(e.party))),
      h("td", { "data-label": t("purpose") }, e.purpose ? word(PURPOSES, e.purpose) : "–"),
      h("td", { "data-label": t("grant") }, e.grant_id ? h("code", null, e.grant_id) : "–"),
      h("td", { class: "num", "data-label": t("auditCells") }, int(e.cells_returned)),
      h("td", { class: "num", "data-label": t("auditEpsilon") }, e.epsilon === "0" ? "–" : eps(e.epsilon)),
      h(
        "td",
        { "data-label": t("auditAttestation") },
        e.attestation === "simulated" ? t("attestationSimulatedShort") : e.attestation === "none" ? "–" : h("code", null, e.attestation),
      ),
      h(
        "td",
        { "data-label": t("auditOutcome") },
        h("span", { class: `badge outcome-${e.outcome}` }, word(OUTCOMES, e.outcome)),
        e.reason ? h("span", { class: "small reason" }, " ", word(REASONS, e.reason)) : null,
      ),
    ),
  );
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "data audit-table", id: "audit-table" },
      h("caption", { class: "visually-hidden" }, t("auditCaption")),
      h("thead", null, h("tr", null, columns.map((c) => h("th", { scope: "col", class: ["auditSequence", "auditCells", "auditEpsilon"].includes(c) ? "num" : null }, t(c))))),
      h("tbody", null, rows),
    ),
  );
}
