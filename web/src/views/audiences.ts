// The audience builder: an expression editor that counts as you type (debounced, stale requests
// cancelled), the size with its share and segment breakdown, parse errors at their column, and
// helpers that write conditions for those who would rather not type (a category search, segment
// chips, where customers shop, number comparisons). Saved audiences are below
// (saved_audiences.ts). Audiences are always built on the newest snapshot.
// Privacy: counts only; no pseudonym is fetched here.

import {
  ApiError,
  getJson,
  isAbort,
  sendJson,
  type AudienceCount,
  type AudienceSchema,
  type CategorySearch,
  type SavedAudience,
} from "../api";
import { SEGMENT_COLORS } from "../charts";
import { clear, h } from "../dom";
import { date, decimal, int, parseLocaleNumber, percent, rich, windowLength } from "../format";
import { lang, t, type MessageKey } from "../i18n";
import { boughtClause, categoryPicker } from "./category_picker";
import { errorBox, errorMessage, loading, type ViewContext } from "./common";
import {
  addCondition,
  errorColumn,
  errorText,
  memberOf,
  offsetOfColumn,
  replaceToken,
  suggestedWord,
  tokenLength,
  type Connector,
} from "./expression";
import { decimalCommaAt, translateExpected, translateExpressionError } from "./expression_messages";
import { savedAudiences } from "./saved_audiences";

const DRAFT_STORAGE = "tessera.audience.draft";
const COUNT_DELAY_MS = 150;

// The expression being edited, and what the builder shows for it, for the other parts of the
// screen (saving, opening a saved audience).
export interface Builder {
  expression: () => string;
  setExpression: (expr: string) => void;
  schema: AudienceSchema;
}

const NUMBER_LABELS: Record<string, MessageKey> = {
  clv: "numClv",
  orders: "numOrders",
  recency_days: "numRecency",
  aov: "numAov",
  r_score: "numRScore",
  f_score: "numFScore",
  m_score: "numMScore",
  predicted_clv: "numPredictedClv",
  p_alive: "numPAlive",
};

const ATTRIBUTE_LABELS: Record<string, MessageKey> = {
  region: "attrRegion",
  store: "attrStore",
  channel: "attrChannel",
};

const CONNECTORS: { c: Connector; label: MessageKey }[] = [
  { c: "and", label: "connAnd" },
  { c: "or", label: "connOr" },
  { c: "and not", label: "connAndNot" },
];

// An example that counts on this data: its first two segments and its most bought top-level
// category (none when the data has no categories).
function example(schema: AudienceSchema, category: string | null): string {
  const segments = memberOf("segment", schema.segments.slice(0, 2).map((s) => s.key));
  return category ? `${segments} and ${boughtClause(category, "90d")}` : `${segments} and orders >= 2`;
}

const OPS: { op: string; label: MessageKey }[] = [
  { op: ">", label: "opGt" },
  { op: ">=", label: "opGe" },
  { op: "<", label: "opLt" },
  { op: "<=", label: "opLe" },
  { op: "=", label: "opEq" },
  { op: "!=", label: "opNe" },
];

let counter: AbortController | null = null;

export async function renderAudiences(main: HTMLElement, ctx: ViewContext): Promise<void> {
  counter?.abort();
  main.append(loading());
  let schema: AudienceSchema;
  let saved: SavedAudience[];
  let topCategory: string | null;
  try {
    let top: CategorySearch;
    [schema, saved, top] = await Promise.all([
      getJson<AudienceSchema>("audiences/schema", { lang: lang() }),
      getJson<SavedAudience[]>("audiences"),
      getJson<CategorySearch>("audiences/categories", { limit: 1 }),
    ]);
    topCategory = top.categories[0]?.path ?? null;
  } catch (err) {
    if (!ctx.alive()) return;
    clear(main);
    // 409 is the API's no_snapshot.
    main.append(errorBox(err, () => ctx.navigate(location.hash), { 404: "noSnapshots", 409: "noSnapshots" }));
    return;
  }
  if (!ctx.alive()) return;
  clear(main);

  const editor = h("textarea", {
    id: "audience-expression",
    name: "expression",
    rows: 3,
    spellcheck: "false",
    autocomplete: "off",
    autocapitalize: "off",
    placeholder: example(schema, topCategory),
    "aria-describedby": "expression-help expression-error",
  });
  editor.value = sessionStorage.getItem(DRAFT_STORAGE) ?? "";
  const errorBoxEl = h("div", { id: "expression-error", class: "expr-error", hidden: true });
  const result = resultPanel(schema);

  let timer: number | undefined;
  let lastGood: AudienceCount | null = null;
  const count = async () => {
    window.clearTimeout(timer);
    counter?.abort();
    if (!ctx.alive()) return;  // another screen by now
    const expr = editor.value.trim();
    if (!expr) {
      counter = null;
      showError(null);
      result.showEmpty();
      return;
    }
    const controller = new AbortController();
    counter = controller;
    result.setState("counting");
    try {
      const report = await sendJson<AudienceCount>("POST", `audiences/count?lang=${lang()}`, { expression: expr }, controller.signal);
      if (controller.signal.aborted || !ctx.alive() || !report) return;
      lastGood = report;
      showError(null);
      result.show(report);
    } catch (err) {
      if (isAbort(err) || controller.signal.aborted || !ctx.alive()) return;
      if (err instanceof ApiError && err.status === 400) {
        showError(err, expr);
        result.setState(lastGood ? "stale" : "invalid");
      } else {
        result.setState("failed", errorMessage(err));
      }
    } finally {
      if (counter === controller) counter = null;
    }
  };
  // The editor grows with its text (up to a limit; then it scrolls).
  const fit = () => {
    editor.style.height = "auto";
    editor.style.height = `${Math.min(editor.scrollHeight + 2, 320)}px`;
  };
  const schedule = () => {
    fit();
    sessionStorage.setItem(DRAFT_STORAGE, editor.value);
    window.clearTimeout(timer);
    if (editor.value.trim()) result.setState("typing");
    timer = window.setTimeout(count, COUNT_DELAY_MS);
  };
  editor.addEventListener("input", schedule);
  editor.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      count();
    }
  });

  // The error at the column the server names, with what it expected and a one-click fix.
  function showError(err: ApiError | null, expr = ""): void {
    clear(errorBoxEl);
    editor.removeAttribute("aria-invalid");
    errorBoxEl.hidden = err === null;
    delete errorBoxEl.dataset.column;
    if (!err) return;
    editor.setAttribute("aria-invalid", "true");
    const column = errorColumn(err.details, err.message);
    const text = errorText(err.message);
    const translated = translateExpressionError(text);
    const head = h("p", { class: "expr-error-message" });
    if (column !== null) {
      errorBoxEl.dataset.column = String(column);
      head.append(h("strong", { class: "expr-error-column" }, t("errorAtColumn", { column })), " ");
    }
    // A decimal comma (`clv > 200,50`) is said in words, with the fix, before what the parser
    // made of it.
    const comma = column !== null ? decimalCommaAt(expr, offsetOfColumn(expr, column)) : null;
    if (comma) {
      head.append(t(comma.fixed.includes(".") ? "decimalPoint" : "noThousands", { typed: comma.typed, fixed: comma.fixed }));
    } else if (translated !== null) {
      head.append(...(lang() === "en" ? [translated] : rich(translated)));
    } else {
      // A message this version cannot translate: said as the server wrote it, marked English.
      head.append(t("serverSaidEnglish"), " ", h("span", { lang: "en" }, text));
    }
    errorBoxEl.append(head);
    if (comma && editor.value.trim() === expr) {
      const fix = h("button", { type: "button", class: "secondary small-button", id: "expression-fix" }, t("useSuggestion", { word: comma.fixed }));
      fix.addEventListener("click", () => {
        const at = editor.value.indexOf(expr) + comma.start;
        editor.value = editor.value.slice(0, at) + comma.fixed + editor.value.slice(at + comma.typed.length);
        editor.focus();
        schedule();
      });
      errorBoxEl.append(fix);
      return;
    }
    if (column !== null) {
      const offset = offsetOfColumn(expr, column);
      const len = Math.max(1, tokenLength(expr, offset));
      const marked = h(
        "pre",
        { class: "expr-caret", "aria-hidden": "true" },
        expr.slice(0, offset),
        h("mark", null, expr.slice(offset, offset + len) || " "),
        expr.slice(offset + len),
      );
      const jump = h("button", { type: "button", class: "link-button", id: "expression-error-jump" }, t("showInExpression"));
      jump.addEventListener("click", () => {
        // The editor may have changed since; the error is for `expr`.
        const at = editor.value.trim() === expr ? editor.value.indexOf(expr) + offset : offset;
        editor.focus();
        editor.setSelectionRange(at, at + tokenLength(editor.value, at));
      });
      errorBoxEl.append(marked, jump);
    }
    const word = column !== null && editor.value.trim() === expr ? suggestedWord(err.details, err.message) : null;
    for (const [field, label] of [
      ["expected", "expected"],
      ["suggestion", "suggestion"],
    ] as const) {
      const v = err.details[field];
      const s = Array.isArray(v) ? v.join(", ") : typeof v === "string" ? v : "";
      // A suggestion that is one word is the button below; an expectation the message
      // already says is not said twice.
      const said = field === "suggestion" ? word !== null && s.includes(word) : err.message.includes(`expected ${s}`);
      if (s && !said) {
        const shown = field === "expected" ? translateExpected(s) : s;
        errorBoxEl.append(
          h(
            "p",
            { class: `expr-error-${field}` },
            h("span", { class: "muted" }, t(label) + ": "),
            shown ?? h("span", { lang: "en" }, s),
          ),
        );
      }
    }
    if (word !== null && column !== null) {
      const fix = h("button", { type: "button", class: "secondary small-button", id: "expression-fix" }, t("useSuggestion", { word }));
      fix.addEventListener("click", () => {
        const start = editor.value.indexOf(expr) + offsetOfColumn(expr, column);
        editor.value = replaceToken(editor.value, start, word);
        editor.focus();
        schedule();
      });
      errorBoxEl.append(fix);
    }
    // An unknown category: the search finds the right name.
    const category = /unknown category "((?:[^"\\]|\\.)*)"/.exec(err.message);
    if (category) {
      const find = h("button", { type: "button", class: "secondary small-button", id: "expression-find-category" }, t("searchCategoriesFor", { q: category[1] }));
      find.addEventListener("click", () => {
        if (column !== null && editor.value.trim() === expr) {
          categoryToReplace = { text: editor.value, offset: editor.value.indexOf(expr) + offsetOfColumn(expr, column) };
        }
        document.getElementById("helper-tab-category")?.click();
        const search = document.getElementById("category-search") as HTMLInputElement | null;
        if (!search) return;
        search.value = category[1];
        search.focus();
        search.dispatchEvent(new Event("input"));
      });
      errorBoxEl.append(find);
    }
  }

  let connector: Connector = "and";
  const connectorBar = h("div", { class: "segmented", role: "group", "aria-label": t("combineWith") });
  for (const { c, label } of CONNECTORS) {
    const b = h("button", { type: "button", "aria-pressed": String(c === connector), "data-connector": c }, t(label));
    b.addEventListener("click", () => {
      connector = c;
      for (const o of connectorBar.querySelectorAll("button")) o.setAttribute("aria-pressed", String(o === b));
    });
    connectorBar.append(b);
  }
  const builder: Builder = {
    schema,
    expression: () => editor.value.trim(),
    setExpression: (expr) => {
      editor.value = expr;
      fit();
      sessionStorage.setItem(DRAFT_STORAGE, expr);
      count();
    },
  };
  const insert = (clause: string) => builder.setExpression(addCondition(editor.value, clause, connector));
  // After "Search the categories for ..." on an unknown category, the pick replaces the wrong
  // name, as long as the text is still the one with the error.
  let categoryToReplace: { text: string; offset: number } | null = null;
  const pickCategory = (path: string, within: string) => {
    const target = categoryToReplace;
    categoryToReplace = null;
    if (target && editor.value === target.text) {
      builder.setExpression(replaceToken(editor.value, target.offset, path));
    } else {
      insert(boughtClause(path, within));
    }
  };

  const clearButton = h("button", { type: "button", class: "secondary small-button", id: "expression-clear" }, t("clearExpression"));
  clearButton.addEventListener("click", () => {
    builder.setExpression("");
    editor.focus();
  });

  main.append(
    h(
      "div",
      { class: "page-head" },
      h("div", null, h("h1", null, t("audiencesTitle")), h("p", { class: "muted" }, t("audiencesIntro"))),
      h(
        "p",
        { class: "muted small", id: "audience-basis" },
        t("audienceBasis", {
          id: schema.snapshot_id,
          asOf: date(schema.as_of),
          window: windowLength(schema.window),
          customers: int(schema.customers),
        }),
      ),
    ),
    // On a phone the size comes right after the editor, before the helpers.
    h(
      "div",
      { class: "aud-grid" },
      h(
        "section",
        { class: "card aud-editor" },
        h(
          "div",
          { class: "expr-head" },
          h("label", { for: "audience-expression", class: "field" }, t("expressionLabel")),
          clearButton,
        ),
        editor,
        errorBoxEl,
        h("p", { class: "muted small", id: "expression-help" }, rich(t("expressionHelp", { example: example(schema, topCategory) }))),
      ),
      result.element,
      h(
        "section",
        { class: "card aud-helpers", "aria-labelledby": "helpers-title" },
        h("h2", { id: "helpers-title" }, t("addCondition")),
        h(
          "div",
          { class: "connector-row" },
          h("span", { class: "muted small" }, t("combineWith")),
          connectorBar,
          lang() === "en" ? null : h("span", { class: "muted small", id: "connector-note" }, rich(t("connectorNote"))),
        ),
        helpers(schema, insert, pickCategory, topCategory),
      ),
    ),
    savedAudiences(ctx, builder, saved),
  );
  fit();
  if (editor.value.trim()) count();
  else result.showEmpty();
}

// Tabs: a category, segments, where they shop, a number.
function helpers(
  schema: AudienceSchema,
  insert: (clause: string) => void,
  pickCategory: (path: string, within: string) => void,
  topCategory: string | null,
): HTMLElement {
  const panels: { id: string; label: MessageKey; body: HTMLElement }[] = [
    { id: "category", label: "helperCategory", body: categoryPicker(schema, pickCategory, topCategory) },
    { id: "segment", label: "helperSegment", body: segmentHelper(schema, insert) },
    { id: "place", label: "helperPlace", body: placeHelper(schema, insert) },
    { id: "number", label: "helperNumber", body: numberHelper(schema, insert) },
  ];
  const tablist = h("div", { class: "helper-tabs", role: "tablist", "aria-label": t("addCondition") });
  const wrap = h("div", { class: "helpers" }, tablist);
  const tabs: HTMLButtonElement[] = [];
  const select = (i: number, focus: boolean) => {
    panels.forEach((p, k) => {
      tabs[k].setAttribute("aria-selected", String(k === i));
      tabs[k].tabIndex = k === i ? 0 : -1;
      p.body.hidden = k !== i;
    });
    if (focus) tabs[i].focus();
  };
  panels.forEach((p, i) => {
    const tab = h(
      "button",
      { type: "button", role: "tab", id: `helper-tab-${p.id}`, "aria-controls": `helper-${p.id}`, "data-helper": p.id },
      t(p.label),
    );
    tab.addEventListener("click", () => select(i, false));
    tab.addEventListener("keydown", (e) => {
      const n = panels.length;
      const next = { ArrowRight: i + 1, ArrowLeft: i - 1 + n, Home: 0, End: n - 1 }[e.key];
      if (next === undefined) return;
      e.preventDefault();
      select(next % n, true);
    });
    tabs.push(tab);
    tablist.append(tab);
    p.body.id = `helper-${p.id}`;
    p.body.setAttribute("role", "tabpanel");
    p.body.setAttribute("aria-labelledby", tab.id);
    p.body.classList.add("helper-panel");
    wrap.append(p.body);
  });
  select(0, false);
  return wrap;
}

// Toggle chips for a set of values, and a button that adds `field in [...]` for the chosen.
function chipPicker(
  idPrefix: string,
  values: { value: string; label: string; color?: string }[],
  groupLabel: string,
  onAdd: (chosen: string[]) => void,
): HTMLElement {
  const chosen = new Set<string>();
  const add = h("button", { type: "button", id: `${idPrefix}-add`, disabled: true }, t("addThis"));
  const chips = h(
    "div",
    { class: "chips", role: "group", "aria-label": groupLabel },
    values.map((v) => {
      const chip = h(
        "button",
        { type: "button", class: "chip", "aria-pressed": "false", "data-value": v.value },
        v.color ? h("span", { class: "swatch", style: `background:${v.color}`, "aria-hidden": "true" }) : null,
        v.label,
      );
      chip.addEventListener("click", () => {
        if (chosen.has(v.value)) chosen.delete(v.value);
        else chosen.add(v.value);
        chip.setAttribute("aria-pressed", String(chosen.has(v.value)));
        add.disabled = chosen.size === 0;
      });
      return chip;
    }),
  );
  add.addEventListener("click", () => {
    if (!chosen.size) return;
    // In the order shown, not the order clicked.
    onAdd(values.map((v) => v.value).filter((v) => chosen.has(v)));
    chosen.clear();
    for (const c of chips.querySelectorAll("button")) c.setAttribute("aria-pressed", "false");
    add.disabled = true;
  });
  return h("div", { class: "chip-picker" }, chips, h("div", { class: "helper-actions" }, add));
}

function segmentHelper(schema: AudienceSchema, insert: (clause: string) => void): HTMLElement {
  return h(
    "div",
    null,
    h("p", { class: "muted small" }, t("segmentHelp")),
    chipPicker(
      "segment",
      schema.segments.map((s, i) => ({ value: s.key, label: s.name, color: SEGMENT_COLORS[i % SEGMENT_COLORS.length] })),
      t("segments"),
      (keys) => insert(memberOf("segment", keys)),
    ),
  );
}

function placeHelper(schema: AudienceSchema, insert: (clause: string) => void): HTMLElement {
  const names = Object.keys(schema.attributes).filter((n) => schema.attributes[n].length > 0);
  const body = h("div", null);
  if (!names.length) {
    body.append(h("p", { class: "muted" }, t("noAttributes")));
    return body;
  }
  const label = (n: string) => (ATTRIBUTE_LABELS[n] ? t(ATTRIBUTE_LABELS[n]) : n);
  const select = h(
    "select",
    { id: "attribute-name" },
    names.map((n) => h("option", { value: n }, label(n))),
  );
  const values = h("div", { class: "attribute-values" });
  const draw = () => {
    clear(values);
    const name = select.value;
    values.append(
      chipPicker(
        "attribute",
        schema.attributes[name].map((v) => ({ value: v, label: v })),
        label(name),
        (chosen) => insert(memberOf(name, chosen)),
      ),
    );
  };
  select.addEventListener("change", draw);
  draw();
  body.append(
    h("p", { class: "muted small" }, t("placeHelp")),
    h("label", { class: "field inline", for: "attribute-name" }, h("span", null, t("attribute")), select),
    values,
  );
  return body;
}

function numberHelper(schema: AudienceSchema, insert: (clause: string) => void): HTMLElement {
  const field = h(
    "select",
    { id: "number-field" },
    schema.numbers.map((n) => h("option", { value: n.name }, NUMBER_LABELS[n.name] ? t(NUMBER_LABELS[n.name]) : n.name)),
  );
  const op = h(
    "select",
    { id: "number-op", "aria-label": t("comparison") },
    OPS.map((o) => h("option", { value: o.op }, t(o.label))),
  );
  // Text, not type=number: the reader's notation (German 1.000,50) is read here, where a
  // browser's number field would silently drop what it does not understand.
  const value = h("input", {
    id: "number-value",
    type: "text",
    inputmode: "decimal",
    autocomplete: "off",
    placeholder: t("numberPlaceholder"),
    required: true,
    "aria-label": t("numberValue"),
    "aria-describedby": "number-unit number-error",
  });
  const unit = h("span", { id: "number-unit", class: "muted small" });
  const error = h("p", { id: "number-error", class: "field-error", role: "alert" });
  const unitOf = () => schema.numbers.find((n) => n.name === field.value)?.unit ?? "count";
  const update = () => {
    const u = unitOf();
    clear(unit);
    unit.append(
      u === "money" ? schema.currency : u === "days" ? t("days") : u === "score" ? "1–5" : u === "probability" ? "0–1" : "",
    );
  };
  field.addEventListener("change", update);
  update();
  const form = h(
    "form",
    { class: "number-form", id: "number-form", novalidate: true },
    h("label", { class: "field", for: "number-field" }, h("span", null, t("numberField"))),
    h("div", { class: "number-row" }, field, op, h("span", { class: "number-value" }, value, unit)),
    error,
    h("div", { class: "helper-actions" }, h("button", { type: "submit", id: "number-add" }, t("addThis"))),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    clear(error);
    const refuse = (message: string) => {
      error.append(message);
      value.setAttribute("aria-invalid", "true");
      value.focus();
    };
    value.removeAttribute("aria-invalid");
    if (value.value.trim() === "") return refuse(t("numberMissing"));
    const v = parseLocaleNumber(value.value);
    if (v === null) return refuse(t("numberFormat"));
    const u = unitOf();
    const n = Number(v);
    const [min, max] = u === "score" ? [1, 5] : u === "probability" ? [0, 1] : [0, Infinity];
    if ((u === "score" || u === "count" || u === "days") && !Number.isInteger(n)) return refuse(t("numberWhole"));
    if (n < min || n > max) {
      return refuse(t("numberRange", { min: decimal(min, 0), max: max === Infinity ? "∞" : decimal(max, 0) }));
    }
    insert(`${field.value} ${op.value} ${v}`);
  });
  return h("div", null, h("p", { class: "muted small" }, t("numberHelp")), form);
}

type CountState = "typing" | "counting" | "stale" | "invalid" | "failed";

// The size, its share and the breakdown by segment. The number stays while the next count is
// under way or the expression does not parse; a note says which expression it belongs to.
function resultPanel(schema: AudienceSchema) {
  const size = h("span", { class: "aud-size-value", id: "audience-size" }, "–");
  const share = h("span", { class: "aud-share", id: "audience-share" });
  const live = h(
    "div",
    { class: "aud-size", id: "audience-count", role: "status", "aria-live": "polite", "aria-atomic": "true" },
    size,
    h("span", { class: "aud-size-unit" }, " " + t("customersLower")),
    h("div", null, share),
  );
  const shareFill = h("span", { class: "share-fill" });
  const shareBar = h("div", { class: "aud-share-bar", "aria-hidden": "true" }, shareFill);
  const state = h("p", { class: "aud-state small", id: "audience-state" });
  const body = h("tbody");
  const table = h(
    "table",
    { class: "data aud-segments", id: "audience-segments" },
    h("caption", { class: "visually-hidden" }, t("breakdownCaption")),
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        h("th", { scope: "col" }, t("segment")),
        h("th", { scope: "col", class: "num" }, t("customers")),
        h("th", { scope: "col", class: "bar-col" }, t("shareOfAudience")),
      ),
    ),
    body,
  );
  const colorOf = new Map(schema.segments.map((s, i) => [s.key, SEGMENT_COLORS[i % SEGMENT_COLORS.length]]));
  const breakdown = h(
    "div",
    { class: "aud-breakdown", hidden: true },
    h("h3", { class: "aud-subhead" }, t("bySegment")),
    h("div", { class: "table-scroll" }, table),
  );
  const element = h(
    "section",
    { class: "card aud-result", "aria-labelledby": "audience-result-title", "data-state": "empty" },
    h("h2", { id: "audience-result-title" }, t("audienceSize")),
    live,
    shareBar,
    state,
    breakdown,
  );

  const setState = (s: CountState | "empty" | "ok", detail = "") => {
    element.dataset.state = s;
    clear(state);
    const text: Partial<Record<string, string>> = {
      typing: "",
      counting: t("counting"),
      stale: t("staleCount"),
      invalid: t("invalidNoCount"),
      failed: t("countFailed", { message: detail }),
      empty: t("emptyExpression"),
      ok: detail,
    };
    state.append(text[s] ?? "");
  };

  const show = (r: AudienceCount) => {
    size.textContent = int(r.size);
    share.textContent = t("shareOfAll", { share: percent(r.share_percent), customers: int(r.customers) });
    shareFill.style.width = `${Math.min(100, r.share_percent)}%`;
    element.dataset.size = String(r.size);
    element.dataset.expression = r.expression;
    breakdown.hidden = false;
    clear(body);
    const max = Math.max(1, ...r.segments.map((s) => s.customers), r.without_purchases);
    const row = (label: string, n: number, color: string, key: string) =>
      h(
        "tr",
        { "data-segment": key, class: n === 0 ? "empty-row" : null },
        h(
          "th",
          { scope: "row" },
          h("span", { class: "seg-label" }, h("span", { class: "swatch", style: `background:${color}`, "aria-hidden": "true" }), label),
        ),
        h("td", { class: "num" }, int(n)),
        h(
          "td",
          { class: "bar-col" },
          h(
            "div",
            { class: "bar-cell" },
            h(
              "span",
              { class: "bar-track", "aria-hidden": "true" },
              h("span", { class: "bar-fill", style: `width:${((100 * n) / max).toFixed(1)}%;background:${color}` }),
            ),
            h("span", { class: "pct" }, percent(r.size ? (100 * n) / r.size : 0)),
          ),
        ),
      );
    for (const s of r.segments) {
      body.append(row(s.name ?? s.segment ?? s.key, s.customers, colorOf.get(s.key) ?? "#8a94a6", s.key));
    }
    if (r.without_purchases > 0) body.append(row(t("withoutPurchases"), r.without_purchases, "#c3c9d4", ""));
    setState("ok", r.millis !== undefined ? t("countedIn", { ms: r.millis < 1 ? "< 1" : String(Math.round(r.millis)) }) : "");
  };

  const showEmpty = () => {
    size.textContent = "–";
    share.textContent = t("shareOfAll", { share: "–", customers: int(schema.customers) });
    shareFill.style.width = "0";
    delete element.dataset.size;
    delete element.dataset.expression;
    breakdown.hidden = true;
    clear(body);
    setState("empty");
  };

  return { element, show, showEmpty, setState };
}
