// Segment overview: the nine segments as a bar chart (one measure at a time) and a table with
// every measure; a click on either lists the segment's customers.

import { getJson, type ScheduleInfo, type Segment, type SegmentReport, type SourceInfo, type SourcesInfo } from "../api";
import { AXIS_COLOR, SEGMENT_COLORS, animate, ariaDescription, drawChart, textWidth, updateChart, type Chart } from "../charts";
import { clear, h } from "../dom";
import { date, decimal, int, money, moneyShort, percent, windowLength } from "../format";
import { lang, t, type MessageKey } from "../i18n";
import { card, downloadButton, errorBox, loading, noticeBox, scrollTable, type ViewContext } from "./common";
import { definitionsSection } from "./definitions";

type Metric = "uuid_count" | "share_percent" | "avg_clv" | "avg_recency_days" | "avg_order_count";

const METRICS: { key: Metric; label: MessageKey }[] = [
  { key: "uuid_count", label: "customers" },
  { key: "share_percent", label: "share" },
  { key: "avg_clv", label: "avgClv" },
  { key: "avg_recency_days", label: "avgRecency" },
  { key: "avg_order_count", label: "avgOrders" },
];

let chosenMetric: Metric = "uuid_count";

export function segmentHash(key: string): string {
  return "#/profiles?segment=" + encodeURIComponent(key);
}

function formatMetric(metric: Metric, value: number | null, currency: string): string {
  switch (metric) {
    case "uuid_count":
      return int(value);
    case "share_percent":
      return percent(value, 2);
    case "avg_clv":
      return money(value, currency);
    case "avg_recency_days":
      return value === null ? "–" : t("daysUnit", { n: decimal(value, 1) });
    case "avg_order_count":
      return decimal(value, 2);
  }
}

function axisLabel(metric: Metric, value: number, currency: string): string {
  switch (metric) {
    case "share_percent":
      return percent(value).replace(/[.,]0(?=\D)/, "");
    case "avg_clv":
      return moneyShort(value, currency);
    case "avg_order_count":
      return decimal(value, Number.isInteger(value) ? 0 : 1);
    default:
      return int(value);
  }
}

export async function renderOverview(main: HTMLElement, ctx: ViewContext): Promise<void> {
  main.append(loading());
  let report: SegmentReport;
  try {
    report = await getJson<SegmentReport>("segments", { snapshot: ctx.snapshot, lang: lang() });
  } catch (err) {
    if (!ctx.alive()) return;
    clear(main);
    main.append(errorBox(err, () => ctx.navigate(location.hash), { 404: "noSnapshots" }));
    return;
  }
  if (!ctx.alive()) return;
  clear(main);

  const cur = report.currency;
  const colorOf = new Map(report.segments.map((s, i) => [s.key, SEGMENT_COLORS[i % SEGMENT_COLORS.length]]));

  main.append(
    h(
      "div",
      { class: "page-head" },
      h("div", null, h("h1", null, t("overviewTitle")), ctx.role === "viewer" ? null : h("p", { class: "muted" }, t("overviewIntro"))),
      downloadButton("segments", { snapshot: ctx.snapshot, lang: lang() }, `segments-${report.as_of}.csv`),
    ),
    h(
      "div",
      { class: "kpis" },
      kpi(t("customers"), int(report.customer_count)),
      kpi(t("asOf"), date(report.as_of)),
      kpi(t("window"), windowLength(report.window.length), `${date(report.window.start)} – ${date(report.window.end)}`),
      kpi(t("snapshot"), "#" + report.snapshot_id, cur),
    ),
  );
  const scheduleBox = h("p", { class: "muted schedule-line", id: "schedule-line", hidden: true });
  main.append(scheduleBox);
  void showSchedule(scheduleBox, ctx);
  // Where the orders come from and how their last runs went: for analysts and admins (the API
  // refuses viewers).
  if (ctx.role !== "viewer") {
    const sourcesBox = h("div", { class: "sources-section", id: "sources", hidden: true });
    main.append(sourcesBox);
    void showSources(sourcesBox, ctx);
  }
  if (ctx.role === "viewer") {
    const note = noticeBox(t("roleViewerNote"));
    note.id = "role-note";
    main.append(note);
  }
  if (report.customer_count === 0) {
    main.append(noticeBox(t("empty")));
  }

  // The chart, with a switch for its measure.
  const chartBox = h("div", { class: "chart chart-segments", id: "segments-chart" });
  const switchBar = h("div", { class: "segmented", role: "group", "aria-label": t("chartMetric") });
  let chart: Chart | null = null;
  const draw = () => {
    const rows = [...report.segments].reverse();  // first rule on top
    // Names are never cut: the axis takes the longest (up to 45 % of the chart; a longer one
    // wraps onto a second line).
    const labelWidth = Math.min(textWidth(rows.map((s) => s.group)) + 4, Math.max(80, chartBox.clientWidth * 0.45));
    const measure = t(METRICS.find((m) => m.key === chosenMetric)!.label);
    const option = {
      ...ariaDescription(
        t("chartSegmentsAria", {
          measure,
          items: report.segments.map((s) => `${s.group}: ${formatMetric(chosenMetric, s[chosenMetric], cur)}`).join("; "),
        }),
      ),
      grid: { left: 8, right: 72, top: 8, bottom: 8, containLabel: true },
      tooltip: {
        trigger: "item",
        formatter: (p: { dataIndex: number }) => {
          const s = rows[p.dataIndex];
          return `<b>${escapeHtml(s.group)}</b><br>${METRICS.map(
            (m) => `${t(m.label)}: ${formatMetric(m.key, s[m.key], cur)}`,
          ).join("<br>")}`;
        },
      },
      xAxis: {
        type: "value",
        splitNumber: 4,
        axisLabel: { color: AXIS_COLOR, hideOverlap: true, formatter: (v: number) => axisLabel(chosenMetric, v, cur) },
        splitLine: { lineStyle: { color: "#eceff4" } },
      },
      yAxis: {
        type: "category",
        data: rows.map((s) => s.group),
        axisLabel: { color: "#3b4252", width: labelWidth, overflow: "break" },
        axisTick: { show: false },
      },
      series: [
        {
          type: "bar",
          name: measure,
          data: rows.map((s) => ({ value: s[chosenMetric] ?? 0, itemStyle: { color: colorOf.get(s.key) } })),
          barMaxWidth: 28,
          cursor: "pointer",
          label: {
            show: true,
            position: "right",
            formatter: (p: { dataIndex: number }) => formatMetric(chosenMetric, rows[p.dataIndex][chosenMetric], cur),
          },
        },
      ],
      animation: animate(),
    };
    if (chart) updateChart(chart, option);
    else
      chart = drawChart(chartBox, option, (p) => ctx.navigate(segmentHash(rows[p.dataIndex].key)));
  };
  for (const m of METRICS) {
    const b = h(
      "button",
      { type: "button", "aria-pressed": String(m.key === chosenMetric), "data-metric": m.key },
      t(m.label),
    );
    b.addEventListener("click", () => {
      chosenMetric = m.key;
      for (const other of switchBar.querySelectorAll("button")) {
        other.setAttribute("aria-pressed", String(other === b));
      }
      draw();
    });
    switchBar.append(b);
  }

  main.append(
    h(
      "div",
      { class: "overview-grid" },
      card(t("segments"), switchBar, chartBox),
      card(
        null,
        segmentTable(report, colorOf, ctx.role !== "viewer"),
        h(
          "p",
          { class: "muted small", id: "shares-base" },
          t("sharesBase", {
            n: int(report.customer_count),
            all: int(ctx.snapshots.find((s) => s.id === report.snapshot_id)?.customers_in_store ?? report.customer_count),
          }),
        ),
      ),
    ),
    definitionsSection(ctx),
  );
  draw();
}

// A date and time in the browser's zone ("8 Dec 2026, 03:00").
function dateTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(lang() === "de" ? "de-DE" : "en-GB", {
    dateStyle: "medium",
    timeStyle: "short",
  }).format(d);
}

// `serve --schedule`'s line under the KPIs: when the data is refreshed, the next run, and how the
// last one went (a failed step by name, with its reason). Nothing without a schedule; a failure
// to ask is not the page's failure.
async function showSchedule(box: HTMLElement, ctx: ViewContext): Promise<void> {
  let info: ScheduleInfo;
  try {
    info = await getJson<ScheduleInfo>("schedule");
  } catch {
    return;
  }
  if (!ctx.alive() || info.schedule === null) return;
  const parts = [t("scheduleLine", { schedule: info.schedule, next: info.next_run ? dateTime(info.next_run) : "–" })];
  if (info.running) {
    parts.push(t("scheduleRunning", { when: dateTime(info.running.started) }));
  } else if (info.runs.length > 0) {
    const last = info.runs[0];
    const failed = last.steps.find((s) => s.outcome === "failed");
    parts.push(
      t("scheduleLast", {
        when: dateTime(last.started),
        outcome: failed ? t("scheduleFailed", { step: failed.name, detail: failed.detail }) : t("scheduleOk"),
      }),
    );
    if (failed) box.classList.add("schedule-failed");
  }
  box.textContent = parts.join(" ");
  box.hidden = false;
}

const SOURCE_KINDS: Record<SourceInfo["kind"], MessageKey> = {
  shopify: "sourceKindShopify",
  woocommerce: "sourceKindWoocommerce",
  folder: "sourceKindFolder",
};
const SOURCE_OUTCOMES: Record<string, MessageKey> = {
  ok: "sourceOutcomeOk",
  refused: "sourceOutcomeRefused",
  failed: "sourceOutcomeFailed",
  running: "sourceOutcomeRunning",
};

// The sources (GET /api/v1/sources) with their last run: when, how it went, new orders and
// rejected rows; a failed run (or one that refused files) stands out with its error. Nothing
// when the server cannot be asked: a failure to ask is not the page's failure.
async function showSources(box: HTMLElement, ctx: ViewContext): Promise<void> {
  let info: SourcesInfo;
  try {
    info = await getJson<SourcesInfo>("sources");
  } catch {
    return;
  }
  if (!ctx.alive()) return;
  if (info.sources.length === 0) {
    box.append(card(t("sourcesTitle"), h("p", { class: "muted", id: "sources-none" }, t("sourcesNone"))));
    box.hidden = false;
    return;
  }
  const labels = [
    t("sourceName"),
    t("sourceKind"),
    t("sourceLocation"),
    t("sourceLastRun"),
    t("sourceOutcome"),
    t("sourceNewOrders"),
    t("sourceRejects"),
  ];
  const rows = info.sources.map((s) => {
    const last = s.runs[0];
    const outcome = last ? last.outcome : null;
    const bad = outcome === "failed" || outcome === "refused";
    const cell = (i: number, text: string, numeric = false) =>
      h("td", { class: numeric ? "num" : null, "data-label": labels[i] }, text);
    const row = h(
      "tr",
      { "data-source": s.name, "data-outcome": outcome ?? "never", class: bad ? "source-" + outcome : null },
      h("th", { scope: "row", "data-label": labels[0] }, s.name),
      cell(1, t(SOURCE_KINDS[s.kind] ?? "sourceKindFolder")),
      h("td", { "data-label": labels[2] }, h("code", { class: "source-location" }, s.location)),
      cell(3, last ? dateTime(last.started) : t("sourceNever")),
      h(
        "td",
        { "data-label": labels[4], class: "source-outcome" },
        outcome ? t(SOURCE_OUTCOMES[outcome] ?? "sourceOutcomeFailed") : "–",
        last?.error ? h("div", { class: "source-error" }, last.error) : null,
      ),
      cell(5, last ? int(last.orders_stored) : "–", true),
      cell(6, last ? int(last.rejects) : "–", true),
    );
    return row;
  });
  const table = h(
    "table",
    { class: "data sources-table stack-on-phone", id: "sources-table" },
    h("thead", null, h("tr", null, labels.map((l, i) => h("th", { scope: "col", class: i >= 5 ? "num" : null }, l)))),
    h("tbody", null, rows),
  );
  box.append(card(t("sourcesTitle"), scrollTable(table, t("sourcesTitle"))));
  box.hidden = false;
}

function kpi(label: string, value: string, sub?: string): HTMLElement {
  return h(
    "div",
    { class: "kpi" },
    h("div", { class: "kpi-label" }, label),
    h("div", { class: "kpi-value" }, value),
    sub ? h("div", { class: "kpi-sub" }, sub) : null,
  );
}

// On a phone each row is a card of label and value (data-label), so no column is lost.
function segmentTable(report: SegmentReport, colorOf: Map<string, string>, linked: boolean): HTMLElement {
  const cur = report.currency;
  const labels: string[] = [];
  const num = (text: string, label: string, extra = "") =>
    h("td", { class: "num" + extra, "data-label": label }, text);
  const maxShare = Math.max(1, ...report.segments.map((s) => s.share_percent));
  const predicted = report.predictions !== undefined;
  labels.push(
    t("segment"),
    t("customers"),
    t("share"),
    t("avgClv"),
    `${t("avgRecency")} (${t("days")})`,
    t("avgOrders"),
    t("medianClv"),
    t("sumClv"),
    t("avgPAlive"),
    `${t("avgPredictedClv")} (${report.predictions?.horizon_months} ${t("monthsShort")})`,
  );
  const rows = report.segments.map((s: Segment) =>
    h(
      "tr",
      { "data-segment": s.key, class: s.uuid_count === 0 ? "empty-row" : null },
      h(
        "th",
        { scope: "row" },
        h("span", { class: "swatch", style: `background:${colorOf.get(s.key)}`, "aria-hidden": "true" }),
        // A viewer's key cannot list customers: no link that only leads to a refusal.
        linked ? h("a", { href: segmentHash(s.key) }, s.group) : s.group,
      ),
      num(int(s.uuid_count), labels[1]),
      h(
        "td",
        { class: "num share", "data-label": labels[2] },
        h(
          "span",
          { class: "share-track", "aria-hidden": "true" },
          h("span", { class: "share-fill", style: `width:${((100 * s.share_percent) / maxShare).toFixed(1)}%` }),
        ),
        h("span", { class: "pct" }, percent(s.share_percent, 2)),
      ),
      num(money(s.avg_clv, cur), labels[3]),
      num(s.avg_recency_days === null ? "–" : decimal(s.avg_recency_days, 1), labels[4]),
      num(decimal(s.avg_order_count, 2), labels[5]),
      num(money(s.median_clv, cur), labels[6]),
      num(money(s.sum_clv, cur), labels[7]),
      predicted ? num(s.avg_p_alive == null ? "–" : decimal(s.avg_p_alive, 2), labels[8]) : null,
      predicted ? num(money(s.avg_predicted_clv ?? null, cur), labels[9]) : null,
    ),
  );
  const head = (text: string, numeric = true) => h("th", { scope: "col", class: numeric ? "num" : null }, text);
  const table = h(
    "table",
    { class: "data segments-table stack-on-phone" + (linked ? " linked" : ""), id: "segments-table" },
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        labels.slice(0, predicted ? 10 : 8).map((l, i) => head(l, i > 0)),
      ),
    ),
    h("tbody", null, rows),
  );
  // The whole row is a target, not just the name's link.
  table.addEventListener("click", (e) => {
    if (!linked) return;
    const target = e.target as HTMLElement;
    if (target.closest("a")) return;
    const row = target.closest("tr[data-segment]") as HTMLElement | null;
    if (row) location.hash = segmentHash(row.dataset.segment!);
  });
  return scrollTable(table, t("segments"));
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
