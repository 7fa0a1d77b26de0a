// "How segments are defined" (Segments and Distributions): each segment's rule as the snapshot
// was made with it (GET /api/v1/segments/definitions, never a copy kept here), in the reader's
// language with the segment's name in the other, and what each score 1..5 meant in that
// snapshot. Also the Distributions screen's words for a frequency score no customer has.

import { getJson, type ScoreBand, type SegmentDefinitions, type SegmentRuleDefinition, type ScoreRange } from "../api";
import { h } from "../dom";
import { decimal, int, money, percent } from "../format";
import { lang, t, type MessageKey } from "../i18n";
import { errorBox, scrollTable, type ViewContext } from "./common";

type Dimension = "recency" | "frequency" | "monetary";
const DIMENSIONS: { key: Dimension; letter: string; label: MessageKey }[] = [
  { key: "recency", letter: "R", label: "recencyScore" },
  { key: "frequency", letter: "F", label: "frequencyScore" },
  { key: "monetary", letter: "M", label: "monetaryScore" },
];

export function fetchDefinitions(ctx: ViewContext): Promise<SegmentDefinitions> {
  return getJson<SegmentDefinitions>("segments/definitions", { snapshot: ctx.snapshot, lang: lang() });
}

function scores(r: ScoreRange): string {
  return r.min === r.max ? String(r.min) : `${r.min}–${r.max}`;
}

// What the customers with scores lo..hi of a dimension had in the snapshot ("0–45 days").
function values(d: SegmentDefinitions, dim: Dimension, r: ScoreRange): string {
  const bands = d.scores[dim].bands.filter((b) => b.score >= r.min && b.score <= r.max && b.customers > 0);
  if (!bands.length) return t("definitionsNobody");
  const num = (v: number | string) => (typeof v === "string" ? Number(v) : v);
  const lo = Math.min(...bands.map((b) => num(b.min!)));
  const hi = Math.max(...bands.map((b) => num(b.max!)));
  switch (dim) {
    case "recency":
      return t("definitionsDays", { range: lo === hi ? int(lo) : `${int(lo)}–${int(hi)}` });
    case "frequency":
      return lo === hi ? ordersText(lo) : t("definitionsOrders", { range: `${int(lo)}–${int(hi)}` });
    case "monetary":
      return lo === hi ? money(lo, d.currency) : `${money(lo, d.currency)} – ${money(hi, d.currency)}`;
  }
}

function ordersText(n: number): string {
  return n === 1 ? t("definitionsOneOrder") : t("definitionsOrders", { range: int(n) });
}

function otherName(s: SegmentRuleDefinition): HTMLElement {
  const other = lang() === "de" ? "en" : "de";
  return h("span", { class: "muted small other-name", lang: other }, other === "en" ? s.name_en : s.name_de);
}

function ruleCell(d: SegmentDefinitions, s: SegmentRuleDefinition, dim: Dimension, label: string): HTMLElement {
  const range = s[dim];
  const any = range.min === 1 && range.max === 5;
  return h(
    "td",
    { class: "rule-cell", "data-label": label, "data-dimension": dim, "data-min": range.min, "data-max": range.max },
    h("span", { class: "rule-scores" }, any ? t("definitionsAny") : scores(range)),
    any ? null : h("span", { class: "muted small rule-values" }, values(d, dim, range)),
  );
}

// The sentence under a segment's name: which earlier segments take its customers first, or,
// for a catch-all, what it is left with.
function ruleNote(d: SegmentDefinitions, s: SegmentRuleDefinition): HTMLElement | null {
  const catchAll = DIMENSIONS.every(({ key }) => s[key].min === 1 && s[key].max === 5);
  if (catchAll) {
    const takes = s.takes
      ? DIMENSIONS.filter(({ key }) => !(s.takes![key].min === 1 && s.takes![key].max === 5))
          .map(({ key, letter }) => `${letter} ${scores(s.takes![key])}`)
          .join(" · ")
      : "";
    return h("p", { class: "muted small rule-note" }, takes ? t("definitionsCatchAllHere", { scores: takes }) : t("definitionsCatchAll"));
  }
  if (!s.unless.length) return null;
  const names = s.unless.map((k) => d.segments.find((x) => x.key === k)?.group ?? k).join(", ");
  return h("p", { class: "muted small rule-note" }, t("definitionsUnless", { names }));
}

function bandText(d: SegmentDefinitions, dim: Dimension, b: ScoreBand): string {
  if (b.customers === 0) return t("definitionsNobody");
  return values(d, dim, { min: b.score, max: b.score });
}

// The panel: closed at first (a disclosure the keyboard opens), the rules and the score bands.
export function definitionsPanel(d: SegmentDefinitions): HTMLElement {
  const labels = [t("segment"), ...DIMENSIONS.map((x) => t(x.label)), t("customers")];
  const rows = d.segments.map((s) =>
    h(
      "tr",
      { "data-segment": s.key },
      h("th", { scope: "row" }, h("span", { class: "rule-name" }, `${s.position}. ${s.group}`), " ", otherName(s), ruleNote(d, s)),
      DIMENSIONS.map((x, i) => ruleCell(d, s, x.key, labels[i + 1])),
      h("td", { class: "num", "data-label": labels[4] }, int(s.uuid_count)),
    ),
  );
  const rules = h(
    "table",
    { class: "data definitions-table stack-on-phone", id: "definitions-table" },
    h("thead", null, h("tr", null, labels.map((l, i) => h("th", { scope: "col", class: i === 4 ? "num" : null }, l)))),
    h("tbody", null, rows),
  );
  const bandRows = DIMENSIONS.map((x) =>
    h(
      "tr",
      { "data-dimension": x.key },
      h("th", { scope: "row" }, t(x.label)),
      d.scores[x.key].bands.map((b) =>
        h("td", { "data-label": `${x.letter} ${b.score}`, "data-customers": b.customers, class: b.customers === 0 ? "empty-band" : null }, bandText(d, x.key, b)),
      ),
    ),
  );
  const bands = h(
    "table",
    { class: "data bands-table", id: "score-bands" },
    h("caption", { class: "visually-hidden" }, t("definitionsBandsTitle")),
    h("thead", null, h("tr", null, h("th", { scope: "col" }, t("definitionsMeasure")), [1, 2, 3, 4, 5].map((n) => h("th", { scope: "col" }, String(n))))),
    h("tbody", null, bandRows),
  );
  return h(
    "details",
    { class: "card definitions", id: "segment-definitions" },
    h("summary", null, h("span", { class: "summary-title" }, t("definitionsTitle"))),
    h("p", { class: "muted" }, t("definitionsIntro")),
    scrollTable(rules, t("definitionsTitle")),
    h("h3", { class: "aud-subhead" }, t("definitionsBandsTitle")),
    h("p", { class: "muted small" }, t("definitionsBandsIntro")),
    scrollTable(bands, t("definitionsBandsTitle")),
    d.rules_recorded ? null : h("p", { class: "muted small", id: "definitions-assumed" }, t("definitionsAssumed")),
  );
}

// Why a frequency score has no customer, with the numbers of this snapshot: scores never split
// equal values (F = 1 + ⌊5 × customers with fewer orders ÷ all customers⌋), so when many
// customers share the lowest order count the next count starts higher up.
export function emptyFrequencyNote(d: SegmentDefinitions): HTMLElement | null {
  const bands = d.scores.frequency.bands;
  const total = bands.reduce((n, b) => n + b.customers, 0);
  if (total === 0) return null;
  const sentences: string[] = [];
  for (let i = 0; i < 5; ) {
    if (bands[i].customers > 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 5 && bands[j].customers === 0) j++;
    const empty = bands.slice(i, j).map((b) => b.score);
    const next = bands[j];  // the next score in use, if any
    const below = bands.slice(0, j).reduce((n, b) => n + b.customers, 0);
    const lowest = bands.slice(0, i).filter((b) => b.customers > 0);
    const f = empty.join(lang() === "de" ? " oder " : " or ");
    if (!next || !lowest.length) {
      sentences.push(t("emptyFrequencyShort", { f }));
    } else {
      const fraction = Math.floor((1000 * below) / total) / 1000;
      sentences.push(
        t("emptyFrequencyExact", {
          f,
          share: percent((100 * below) / total, 1),
          orders: ordersText(Math.max(...lowest.map((b) => Number(b.max)))),
          next: int(Number(next.min)),
          fraction: decimal(fraction, 3),
          score: next.score,
        }),
      );
    }
    i = j;
  }
  return sentences.length ? h("p", { class: "muted small", id: "rf-empty-note" }, sentences.join(" ")) : null;
}

// The panel as a place on a screen, filled once the definitions arrive; a snapshot whose rules
// are unknown says so there.
export function definitionsSection(ctx: ViewContext, ready: Promise<SegmentDefinitions> = fetchDefinitions(ctx)): HTMLElement {
  const place = h("div", { class: "definitions-place" });
  ready.then(
    (d) => {
      if (ctx.alive()) place.append(definitionsPanel(d));
    },
    (err) => {
      if (ctx.alive()) place.append(errorBox(err));
    },
  );
  return place;
}
