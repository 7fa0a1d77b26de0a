// The Partners screen's form that signs a grant for a partner (POST /api/v1/collab/grants, as
// `tessera grant create`): purpose, outputs, fields and their limits, the minimum cell size,
// differential privacy, expiry, recipients, where the join worker may run and which
// attestation it must show. Only an admin key may sign, and only a server with the owner's key
// can: anyone else sees the form disabled with the reason before anything is clicked. Input is
// checked here first, in words; what the server still refuses is shown with the member it names.
// Privacy: party ids, attribute names and numbers only.

import { ApiError, getJson, isAbort, sendJson, type AudienceSchema } from "../api";
import { clear, h } from "../dom";
import { int, rich } from "../format";
import { t, type MessageKey } from "../i18n";
import {
  ATTESTATION_MODES,
  compareDecimals,
  eps,
  OUTPUTS,
  parseEpsilon,
  PURPOSES,
  type CreatedGrant,
  type Party,
  type PartyInfo,
} from "./collab";
import { errorMessage } from "./common";

// The outputs each purpose is made for; choosing a purpose ticks them.
const PURPOSE_OUTPUTS: Record<string, string[]> = {
  overlap: ["overlap_size"],
  audience_counts: ["audience_count", "cell_counts"],
  activation: ["activation_list"],
  campaign_measurement: ["audience_count"],
};
const VALIDITIES: [string, MessageKey][] = [
  ["30d", "validFor30d"],
  ["90d", "validFor90d"],
  ["6m", "validFor6m"],
  ["12m", "validFor12m"],
  ["date", "validUntilDate"],
];
const K_MIN_DEFAULT = "100";
const MAX_EPSILON = "1000000000";  // collab/epsilon.h, kMaxMicroEpsilon in whole ε

// The form as typed, kept while the screen is redrawn (a language switch). `null` lists follow
// the chosen partner or purpose until they are changed by hand.
interface FormDraft {
  partner: string;
  purpose: string;
  outputs: string[] | null;
  fields: string;
  depth: string;
  breakdowns: string;
  kMin: string;
  dp: boolean;
  epsilon: string;
  budget: string;
  validity: string;
  expires: string;
  recipients: string[] | null;
  hosts: string[] | null;
  modes: string[];
}

function freshDraft(): FormDraft {
  return {
    partner: "",
    purpose: "audience_counts",
    outputs: null,
    fields: "",
    depth: "",
    breakdowns: "",
    kMin: K_MIN_DEFAULT,
    dp: false,
    epsilon: "",
    budget: "",
    validity: "90d",
    expires: "",
    recipients: null,
    hosts: null,
    modes: ["simulated"],
  };
}

let draft = freshDraft();
// The grant just created, shown once after the redraw that lists it.
let created: { grant: CreatedGrant; partner: string } | null = null;

export function takeCreated(): { grant: CreatedGrant; partner: string } | null {
  const c = created;
  created = null;
  return c;
}

// YYYY-MM-DD of today plus `days`, in UTC as the server counts a grant's last day.
function isoDay(days: number): string {
  return new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);
}

const FIELD_NAME = /^[a-z][a-z0-9_]{0,63}$/;

// The request's member a server error names, and the control that holds it.
const MEMBER_CONTROLS: Record<string, [string, MessageKey]> = {
  partner: ["grant-partner", "partner"],
  purpose: ["grant-purpose", "purpose"],
  output_kinds: ["grant-outputs", "outputs"],
  allowed_fields: ["grant-fields", "allowedFields"],
  k_min: ["grant-kmin", "kMin"],
  "differential_privacy.epsilon_per_query": ["grant-epsilon", "epsilonPerQuery"],
  "differential_privacy.budget_per_period": ["grant-budget", "budgetPerMonth"],
  "predicates.max_category_depth": ["grant-depth", "categoryDepth"],
  "predicates.max_breakdown_attributes": ["grant-breakdowns", "maxBreakdowns"],
  recipients: ["grant-recipients", "recipients"],
  worker_hosts: ["grant-hosts", "workerHosts"],
  attestation_modes: ["grant-attestation", "attestationModes"],
  expires: ["grant-expires", "validity"],
  valid_for: ["grant-validity", "validity"],
};

function checkbox(group: string, value: string, label: Node | string, checked: boolean): HTMLElement {
  return h(
    "label",
    { class: "check" },
    h("input", { type: "checkbox", name: group, value, id: `${group}-${value}`, checked }),
    " ",
    label,
  );
}

function checked(container: HTMLElement): string[] {
  return [...container.querySelectorAll<HTMLInputElement>("input[type=checkbox]:checked")].map((i) => i.value);
}

function setChecked(container: HTMLElement, values: string[]): void {
  for (const input of container.querySelectorAll<HTMLInputElement>("input[type=checkbox]")) {
    input.checked = values.includes(input.value);
  }
}

// `partners` are the other parties of the collaboration file, `everyone` all of them (results
// may go to, and the worker may run at, any party); `done` redraws the screen with the grant.
export function grantForm(party: PartyInfo, partners: Party[], everyone: Party[], done: () => void): HTMLElement {
  const admin = party.role === "admin";
  const canCreate = admin && party.can_sign_grants;
  if (!partners.some((p) => p.party_id === draft.partner)) draft.partner = partners[0].party_id;
  const partnerOf = (id: string) => partners.find((p) => p.party_id === id) ?? partners[0];

  const partnerSelect = h(
    "select",
    { id: "grant-partner", name: "partner" },
    partners.map((p) => h("option", { value: p.party_id }, p.name)),
  );
  partnerSelect.value = draft.partner;
  const purpose = h(
    "select",
    { id: "grant-purpose", name: "purpose" },
    Object.entries(PURPOSES).map(([code, key]) => h("option", { value: code }, t(key))),
  );
  purpose.value = draft.purpose;
  const outputs = h(
    "fieldset",
    { class: "grant-checks", id: "grant-outputs" },
    h("legend", null, t("outputs")),
    Object.entries(OUTPUTS).map(([code, key]) => checkbox("grant-output", code, t(key), false)),
  );
  const fields = h("input", {
    id: "grant-fields",
    type: "text",
    autocomplete: "off",
    autocapitalize: "off",
    spellcheck: "false",
    placeholder: t("allowedFieldsPlaceholder"),
    "aria-describedby": "grant-fields-help",
  });
  fields.value = draft.fields;
  const fieldChips = h("span", { class: "field-hints", id: "grant-field-chips" });
  const depth = h("input", { id: "grant-depth", type: "text", inputmode: "numeric", autocomplete: "off", placeholder: t("noLimit") });
  depth.value = draft.depth;
  const breakdowns = h(
    "select",
    { id: "grant-breakdowns" },
    h("option", { value: "" }, t("noLimit")),
    ["0", "1", "2"].map((n) => h("option", { value: n }, n)),
  );
  breakdowns.value = draft.breakdowns;
  const kMin = h("input", { id: "grant-kmin", type: "text", inputmode: "numeric", autocomplete: "off", "aria-describedby": "grant-kmin-help" });
  kMin.value = draft.kMin;
  const dp = h("input", { type: "checkbox", id: "grant-dp", checked: draft.dp });
  const epsilon = h("input", { id: "grant-epsilon", type: "text", inputmode: "decimal", autocomplete: "off", placeholder: eps("0.5") });
  epsilon.value = draft.epsilon;
  const budget = h("input", { id: "grant-budget", type: "text", inputmode: "decimal", autocomplete: "off", placeholder: eps("3") });
  budget.value = draft.budget;
  const dpFields = h(
    "div",
    { class: "grant-dp-fields", id: "grant-dp-fields" },
    h("label", { class: "field", for: "grant-epsilon" }, t("epsilonPerQuery"), epsilon),
    h("label", { class: "field", for: "grant-budget" }, t("budgetPerMonth"), budget),
  );
  const dpNoActivation = h("p", { class: "muted small", id: "grant-dp-activation" }, t("grantDpNoActivation"));
  const exactNote = h(
    "div",
    { class: "message notice grant-exact-note", role: "note", id: "grant-exact-note" },
    h("p", null, rich(t("grantExactCountsNote"))),
  );
  const validity = h(
    "select",
    { id: "grant-validity" },
    VALIDITIES.map(([value, key]) => h("option", { value }, t(key))),
  );
  validity.value = draft.validity;
  const expires = h("input", { id: "grant-expires", type: "date", min: isoDay(0), "aria-label": t("lastDay") });
  expires.value = draft.expires || isoDay(90);
  const partyChecks = (group: string) =>
    everyone.map((p) => checkbox(group, p.party_id, p.self ? t("thisPartyNamed", { name: p.name }) : p.name, false));
  const recipients = h("fieldset", { class: "grant-checks", id: "grant-recipients" }, h("legend", null, t("recipients")), partyChecks("grant-recipient"));
  const hosts = h(
    "fieldset",
    { class: "grant-checks", id: "grant-hosts", "aria-describedby": "grant-hosts-help" },
    h("legend", null, t("workerHosts")),
    partyChecks("grant-host"),
  );
  const hostsHelp = h("p", { class: "muted small", id: "grant-hosts-help" });
  const modes = h(
    "fieldset",
    { class: "grant-checks", id: "grant-attestation" },
    h("legend", null, t("attestationModes")),
    Object.entries(ATTESTATION_MODES).map(([code, key]) => checkbox("grant-mode", code, t(key), draft.modes.includes(code))),
  );
  const formError = h("div", { id: "grant-form-error", class: "grant-form-error", role: "alert" });
  const submit = h("button", { type: "submit", id: "grant-create" }, t("grantCreate"));

  // What follows from the partner and the purpose: default recipients, hosts and outputs, and
  // whether differential privacy may be asked for.
  const refresh = () => {
    const p = partnerOf(partnerSelect.value);
    setChecked(recipients, draft.recipients ?? [p.party_id]);
    setChecked(hosts, draft.hosts ?? [p.party_id]);
    setChecked(outputs, draft.outputs ?? PURPOSE_OUTPUTS[purpose.value] ?? []);
    const activation = purpose.value === "activation";
    dp.disabled = activation;
    if (activation) dp.checked = false;
    dpNoActivation.hidden = !activation;
    dpFields.hidden = !dp.checked;
    exactNote.hidden = dp.checked || activation;
    expires.hidden = validity.value !== "date";
    clear(hostsHelp);
    hostsHelp.append(
      checked(hosts).includes(p.party_id) ? t("workerHostsHelp", { partner: p.name }) : t("workerHostsMissing", { partner: p.name }),
    );
    hostsHelp.dataset.warning = String(!checked(hosts).includes(p.party_id));
  };
  const save = () => {
    draft.partner = partnerSelect.value;
    draft.purpose = purpose.value;
    draft.fields = fields.value;
    draft.depth = depth.value;
    draft.breakdowns = breakdowns.value;
    draft.kMin = kMin.value;
    draft.dp = dp.checked;
    draft.epsilon = epsilon.value;
    draft.budget = budget.value;
    draft.validity = validity.value;
    draft.expires = expires.value;
    draft.modes = checked(modes);
  };
  partnerSelect.addEventListener("change", () => {
    save();
    refresh();
  });
  purpose.addEventListener("change", () => {
    draft.outputs = null;
    save();
    refresh();
  });
  outputs.addEventListener("change", () => {
    draft.outputs = checked(outputs);
  });
  recipients.addEventListener("change", () => {
    draft.recipients = checked(recipients);
  });
  hosts.addEventListener("change", () => {
    draft.hosts = checked(hosts);
    refresh();
  });
  for (const el of [fields, depth, kMin, epsilon, budget, expires]) el.addEventListener("input", save);
  for (const el of [breakdowns, modes, expires]) el.addEventListener("change", save);
  for (const el of [dp, validity]) {
    el.addEventListener("change", () => {
      save();
      refresh();
    });
  }
  refresh();

  // This party's fields, offered as chips (an admin's own data; none without a snapshot).
  if (canCreate) {
    (async () => {
      try {
        const schema = await getJson<AudienceSchema>("audiences/schema");
        const names = [...new Set(["segment", ...schema.numbers.map((n) => n.name), ...Object.keys(schema.attributes)])];
        fieldChips.append(
          ...names.map((f) =>
            h(
              "button",
              {
                type: "button",
                class: "chip field-chip",
                "data-field": f,
                "aria-label": t("addField", { field: f }),
                onclick: () => {
                  const list = fields.value.split(",").map((x) => x.trim()).filter(Boolean);
                  if (!list.includes(f)) list.push(f);
                  fields.value = list.join(", ");
                  save();
                  fields.focus();
                },
              },
              f,
            ),
          ),
        );
      } catch (err) {
        if (isAbort(err)) return;
        // No snapshot yet, say: names are typed instead.
      }
    })();
  }

  const showErrors = (problems: [HTMLElement, string][]) => {
    clear(formError);
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    if (problems.length === 0) return;
    formError.dataset.kind = "invalid";
    formError.append(
      h("p", null, t(problems.length === 1 ? "grantFixOne" : "grantFixMany", { n: problems.length })),
      h("ul", null, problems.map(([, text]) => h("li", null, rich(text)))),
    );
    for (const [el] of problems) el.setAttribute("aria-invalid", "true");
    const first = problems[0][0];
    (first instanceof HTMLFieldSetElement ? first.querySelector<HTMLElement>("input") : first)?.focus();
  };

  // The request, or what to fix first.
  const build = (): { body: Record<string, unknown> } | { problems: [HTMLElement, string][] } => {
    const problems: [HTMLElement, string][] = [];
    const label = (key: MessageKey, message: string) => `${t(key)}: ${message}`;
    const kinds = checked(outputs);
    if (kinds.length === 0) problems.push([outputs, label("outputs", t("grantNeedsOutput"))]);
    else if (kinds.includes("activation_list") && purpose.value !== "activation") {
      problems.push([outputs, label("outputs", t("grantActivationListOnly"))]);
    }
    const names = fields.value.split(",").map((f) => f.trim()).filter(Boolean);
    const bad = names.find((f) => !FIELD_NAME.test(f));
    if (bad !== undefined) problems.push([fields, label("allowedFields", t("grantFieldInvalid", { field: bad }))]);
    else {
      const twice = names.find((f, i) => names.indexOf(f) !== i);
      if (twice !== undefined) problems.push([fields, label("allowedFields", t("grantFieldTwice", { field: twice }))]);
    }
    const depthText = depth.value.trim();
    if (depthText && !(/^\d{1,2}$/.test(depthText) && Number(depthText) >= 1 && Number(depthText) <= 16)) {
      problems.push([depth, label("categoryDepth", t("grantDepthInvalid"))]);
    }
    const kText = kMin.value.trim();
    if (!(/^\d{1,10}$/.test(kText) && Number(kText) >= 2 && Number(kText) <= 1_000_000_000)) {
      problems.push([kMin, label("kMin", t("grantKMinInvalid", { max: int(1_000_000_000) }))]);
    }
    let dpBody: { epsilon_per_query: string; budget_per_period: string } | null = null;
    if (dp.checked) {
      const e = parseEpsilon(epsilon.value);
      const b = parseEpsilon(budget.value);
      if (e.error) problems.push([epsilon, label("epsilonPerQuery", t(e.error))]);
      else if (!e.value) problems.push([epsilon, label("epsilonPerQuery", t("grantDpNeedsBoth"))]);
      if (b.error) problems.push([budget, label("budgetPerMonth", t(b.error))]);
      else if (!b.value) problems.push([budget, label("budgetPerMonth", t("grantDpNeedsBoth"))]);
      if (e.value && b.value) {
        if (compareDecimals(b.value, e.value) < 0) problems.push([budget, label("budgetPerMonth", t("grantBudgetBelowEpsilon"))]);
        else if (compareDecimals(b.value, MAX_EPSILON) > 0) {
          problems.push([budget, label("budgetPerMonth", t("grantEpsilonTooLarge", { max: int(Number(MAX_EPSILON)) }))]);
        } else dpBody = { epsilon_per_query: e.value, budget_per_period: b.value };
      }
    }
    let expiry: Record<string, string>;
    if (validity.value === "date") {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(expires.value) || expires.value < isoDay(0)) {
        problems.push([expires, label("validity", t("grantExpiresInvalid"))]);
      }
      expiry = { expires: expires.value };
    } else {
      expiry = { valid_for: validity.value };
    }
    const to = checked(recipients);
    if (to.length === 0) problems.push([recipients, label("recipients", t("grantNeedsParty"))]);
    const at = checked(hosts);
    if (at.length === 0) problems.push([hosts, label("workerHosts", t("grantNeedsParty"))]);
    const accepted = checked(modes);
    if (accepted.length === 0) problems.push([modes, label("attestationModes", t("grantNeedsAttestation"))]);
    if (problems.length) return { problems };
    const predicates: Record<string, number> = {};
    if (depthText) predicates.max_category_depth = Number(depthText);
    if (breakdowns.value) predicates.max_breakdown_attributes = Number(breakdowns.value);
    return {
      body: {
        partner: partnerSelect.value,
        purpose: purpose.value,
        output_kinds: kinds,
        allowed_fields: names,
        k_min: Number(kText),
        ...(dpBody ? { differential_privacy: dpBody } : {}),
        ...(Object.keys(predicates).length ? { predicates } : {}),
        recipients: to,
        worker_hosts: at,
        attestation_modes: accepted,
        ...expiry,
      },
    };
  };

  // A refusal of the server: in words where it has a code this screen knows, the member it
  // names marked, and its own message as it wrote it.
  const serverError = (err: unknown) => {
    clear(formError);
    formError.dataset.kind = "server";
    let text: string;
    let member: [string, MessageKey] | undefined;
    if (err instanceof ApiError) {
      formError.dataset.code = err.code;
      member = typeof err.details.parameter === "string" ? MEMBER_CONTROLS[err.details.parameter] : undefined;
      if (err.status === 403) text = t("grantNeedsAdmin");
      else if (err.code === "no_key") text = t("grantNeedsKey");
      else if (err.code === "no_collaboration") text = t("partnersNoCollaboration");
      else if (member) text = t("grantServerRefusedMember", { member: t(member[1]), message: err.message });
      else if (err.status === 400 || err.status === 409) text = t("grantServerRefused", { message: err.message });
      else text = t("grantFailed", { message: errorMessage(err) });
    } else {
      text = t("grantFailed", { message: errorMessage(err) });
    }
    formError.append(h("p", null, rich(text)));
    if (member) {
      const el = document.getElementById(member[0]);
      el?.setAttribute("aria-invalid", "true");
      (el instanceof HTMLFieldSetElement ? el.querySelector<HTMLElement>("input") : el)?.focus();
    }
  };

  const form = h(
    "form",
    { id: "grant-form", class: "grant-form", novalidate: true },
    h(
      "fieldset",
      { class: "plain", id: "grant-fieldset", disabled: !canCreate },
      h(
        "div",
        { class: "joint-row" },
        h("label", { class: "field", for: "grant-partner" }, h("span", null, t("partner")), partnerSelect),
        h("label", { class: "field", for: "grant-purpose" }, h("span", null, t("purpose")), purpose),
      ),
      outputs,
      h(
        "div",
        { class: "grant-fields" },
        h("label", { class: "field", for: "grant-fields" }, t("allowedFields")),
        fields,
        h("p", { class: "muted small", id: "grant-fields-help" }, t("allowedFieldsHelp")),
        fieldChips,
      ),
      h(
        "div",
        { class: "joint-row" },
        h("label", { class: "field", for: "grant-depth" }, h("span", null, t("categoryDepth")), depth),
        h("label", { class: "field", for: "grant-breakdowns" }, h("span", null, t("maxBreakdowns")), breakdowns),
        h(
          "div",
          { class: "grant-kmin" },
          h("label", { class: "field", for: "grant-kmin" }, t("kMin")),
          kMin,
          h("p", { class: "muted small", id: "grant-kmin-help" }, t("kMinHelp")),
        ),
      ),
      h(
        "div",
        { class: "grant-dp" },
        h("label", { class: "check", for: "grant-dp" }, dp, " ", t("grantDpLabel")),
        dpNoActivation,
        dpFields,
        exactNote,
      ),
      h(
        "div",
        { class: "joint-row" },
        h("label", { class: "field", for: "grant-validity" }, h("span", null, t("validity")), validity),
        h("div", { class: "grant-expires" }, expires),
      ),
      recipients,
      h("div", null, hosts, hostsHelp),
      modes,
      formError,
      h("div", { class: "joint-actions" }, submit),
    ),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    save();
    const built = build();
    if ("problems" in built) {
      showErrors(built.problems);
      return;
    }
    showErrors([]);
    submit.disabled = true;
    try {
      const grant = await sendJson<CreatedGrant>("POST", "collab/grants", built.body);
      if (grant) {
        created = { grant, partner: partnerOf(partnerSelect.value).name };
        draft = freshDraft();
        done();
      }
    } catch (err) {
      serverError(err);
    } finally {
      submit.disabled = false;
    }
  });

  let note: HTMLElement | null = null;
  if (!admin) {
    note = h("div", { class: "message notice", role: "note", id: "grant-needs-admin" }, h("p", null, rich(t("grantNeedsAdmin"))));
  } else if (!party.can_sign_grants) {
    note = h("div", { class: "message notice", role: "note", id: "grant-needs-key" }, h("p", null, rich(t("grantNeedsKey"))));
  }
  // The note is what a reader of the form's controls hears first.
  if (note) form.setAttribute("aria-describedby", note.id);
  return h(
    "section",
    { class: "card grant-create-card", id: "grant-create-card", "aria-labelledby": "grant-create-title", "data-enabled": String(canCreate) },
    h("h2", { id: "grant-create-title" }, t("grantCreateTitle")),
    h("p", { class: "muted" }, rich(t("grantCreateIntro"))),
    note,
    form,
  );
}

// The status line after a grant was created: what to do with it, and its signed document to
// send the partner (saved as a file, as `tessera grant create --out` writes it).
export function createdStatus(c: { grant: CreatedGrant; partner: string }): (Node | string)[] {
  const button = h("button", { type: "button", class: "secondary small-button", id: "grant-document-download" }, t("grantDownloadDocument"));
  button.addEventListener("click", () => {
    const url = URL.createObjectURL(new Blob([c.grant.document + "\n"], { type: "application/json" }));
    const a = h("a", { href: url, download: `${c.grant.grant_id}.json`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });
  return [
    h("span", null, rich(t("grantCreated", { id: c.grant.grant_id, partner: c.partner }))),
    " ",
    button,
  ];
}
