// Distributions: the R×F heat map (a click lists the cell's customers) and histograms of CLV
// and recency.

import { getJson, type Distributions, type Histogram } from "../api";
import { AXIS_COLOR, ariaDescription, drawChart, keyboardChart } from "../charts";
import { contrastText } from "../contrast";
import { clear, h } from "../dom";
import { int, money, moneyShort, decimal } from "../format";
import { t } from "../i18n";
import { card, errorBox, loading, type ViewContext } from "./common";
import { definitionsSection, emptyFrequencyNote, fetchDefinitions } from "./definitions";
import { escapeHtml } from "./overview";

export async function renderDistributions(main: HTMLElement, ctx: ViewContext): Promise<void> {
  main.append(loading());
  let d: Distributions;
  const definitions = fetchDefinitions(ctx);
  definitions.catch(() => {});  // said in the panel
  try {
    d = await getJson<Distributions>("distributions", { snapshot: ctx.snapshot, bins: 20 });
  } catch (err) {
    if (!ctx.alive()) return;
    clear(main);
    main.append(errorBox(err, () => ctx.navigate(location.hash), { 404: "noSnapshots" }));
    return;
  }
  if (!ctx.alive()) return;
  clear(main);

  const heat = h("div", { class: "chart chart-heatmap", id: "rf-heatmap" });
  // Why an F column is empty, with this snapshot's numbers (definitions.ts).
  const emptyNote = h("div", { class: "rf-empty-place" });
  definitions.then(
    (defs) => {
      const note = ctx.alive() ? emptyFrequencyNote(defs) : null;
      if (note) emptyNote.append(note);
    },
    () => {},
  );
  const clv = h("div", { class: "chart chart-histogram", id: "clv-histogram" });
  const recency = h("div", { class: "chart chart-histogram", id: "recency-histogram" });
  main.append(
    h("div", { class: "page-head" }, h("div", null, h("h1", null, t("navDistributions")))),
    h(
      "div",
      { class: "dist-grid" },
      card(t("rfTitle"), h("p", { class: "muted" }, t("rfIntro")), heat, chartStatus(heat), emptyNote),
      card(t("clvHistogram"), clv, chartStatus(clv), h("p", { class: "muted small" }, t("histogramNote"))),
      card(t("recencyHistogram"), recency, chartStatus(recency), h("p", { class: "muted small" }, t("histogramNote"))),
    ),
    definitionsSection(ctx, definitions),
  );

  drawHeatmap(heat, d, ctx);
  drawHistogram(clv, d.clv, t("histogramClvAxis", { currency: d.currency }), (v) => moneyShort(v, d.currency), (lo, hi) =>
    hi === null ? `≥ ${moneyShort(lo, d.currency)}` : `${moneyShort(lo, d.currency)} – ${moneyShort(hi, d.currency)}`,
  );
  drawHistogram(recency, d.recency_days, t("histogramRecencyAxis"), (v) => decimal(v, 0), (lo, hi) =>
    hi === null
      ? `≥ ${t("daysUnit", { n: decimal(lo, 0) })}`
      : `${decimal(lo, 0)} – ${t("daysUnit", { n: decimal(hi, 0) })}`,
  );
}

// The line under a chart that says what the keyboard has chosen in it.
function chartStatus(chart: HTMLElement): HTMLElement {
  const status = h("p", { class: "chart-status small", id: `${chart.id}-status`, role: "status" }, t("chartKeys"));
  chart.setAttribute("aria-describedby", status.id);
  return status;
}

function drawHeatmap(box: HTMLElement, d: Distributions, ctx: ViewContext): void {
  const scores = ["1", "2", "3", "4", "5"];
  const max = Math.max(1, ...d.rf_grid.map((c) => c.customers));
  // The colour of each cell: light blues for the fewer half (dark text), dark blues for the
  // more (white text). No cell is mid-blue, on which neither text would reach 4.5:1 (WCAG AA).
  const light = [[242, 246, 251], [140, 180, 220]];
  const dark = [[62, 105, 150], [25, 55, 92]];
  const colour = (n: number) => {
    const x = Math.sqrt(n / max);
    const [from, to] = x < 0.5 ? light : dark;
    const f = x < 0.5 ? x / 0.5 : (x - 0.5) / 0.5;
    return from.map((c, k) => Math.round(c + (to[k] - c) * f));
  };
  const data = d.rf_grid.map((c) => {
    const bg = colour(c.customers);
    return {
      value: [c.f - 1, c.r - 1, c.customers],
      cell: c,
      itemStyle: { color: `rgb(${bg.join(", ")})` },
      label: { color: contrastText(bg) },
    };
  });
  const chart = drawChart(
    box,
    {
      ...ariaDescription(
        t("heatmapAria", {
          items: [...d.rf_grid]
            .sort((a, b) => b.r - a.r || a.f - b.f)
            .map((c) => `R ${c.r} · F ${c.f}: ${int(c.customers)}`)
            .join("; "),
        }),
      ),
      grid: { left: 48, right: 8, top: 8, bottom: 48 },
      tooltip: {
        formatter: (p: { data: (typeof data)[number] }) => {
          const c = p.data.cell;
          return `R ${c.r} · F ${c.f}<br>${escapeHtml(t("customers"))}: <b>${int(c.customers)}</b><br>${escapeHtml(
            t("avgClv"),
          )}: ${money(c.avg_clv, d.currency)}`;
        },
      },
      xAxis: {
        type: "category",
        data: scores,
        name: t("frequencyScore"),
        nameLocation: "middle",
        nameGap: 28,
        axisLabel: { color: AXIS_COLOR },
        splitArea: { show: true },
      },
      yAxis: {
        type: "category",
        data: scores,
        name: t("recencyScore"),
        nameLocation: "middle",
        nameRotate: 90,
        nameGap: 28,
        axisLabel: { color: AXIS_COLOR },
        splitArea: { show: true },
      },
      series: [
        {
          type: "heatmap",
          name: t("customers"),
          data,
          cursor: "pointer",
          label: { show: true, formatter: (p: { data: (typeof data)[number] }) => int(p.data.cell.customers) },
          itemStyle: { borderColor: "#fff", borderWidth: 2 },
          emphasis: { itemStyle: { borderColor: "#3b4252" } },
        },
      ],
    },
    (p) => {
      const c = (p.data as (typeof data)[number]).cell;
      ctx.navigate(`#/profiles?r=${c.r}&f=${c.f}`);
    },
  );
  // Arrow keys walk the grid as drawn: up is a higher R, right a higher F.
  const at = (r: number, f: number) => data.findIndex((x) => x.cell.r === r && x.cell.f === f);
  keyboardChart(
    chart,
    data.length,
    document.getElementById(`${box.id}-status`)!,
    (i) => `R ${data[i].cell.r} · F ${data[i].cell.f}: ${int(data[i].cell.customers)} ${t("customersLower")}`,
    (i, key) => {
      const { r, f } = data[i].cell;
      const [nr, nf] = { ArrowUp: [r + 1, f], ArrowDown: [r - 1, f], ArrowLeft: [r, f - 1], ArrowRight: [r, f + 1] }[key] ?? [0, 0];
      const j = at(nr, nf);
      return j >= 0 ? j : null;
    },
    ctx.role === "viewer" ? undefined : (i) => ctx.navigate(`#/profiles?r=${data[i].cell.r}&f=${data[i].cell.f}`),
  );
}

// Bin i covers [edges[i], edges[i+1]); the last bin is open-ended (everything above the 99th
// percentile lands there). The bins stand on a value axis, so its labels fall on round values
// (€100, €200) rather than on the bins' edges (€173, €345).
function drawHistogram(
  box: HTMLElement,
  hist: Histogram,
  axisName: string,
  tick: (v: number) => string,
  label: (lo: number, hi: number | null) => string,
): void {
  const n = hist.counts.length;
  const width = n > 1 ? hist.edges[1] - hist.edges[0] : 1;
  const lo = hist.edges[0];
  const labels = hist.counts.map((_, i) => label(hist.edges[i], i === n - 1 ? null : hist.edges[i + 1]));
  const chart = drawChart(box, {
    ...ariaDescription(
      t("histogramAria", { what: axisName, items: labels.map((l, i) => `${l}: ${int(hist.counts[i])}`).join("; ") }),
    ),
    grid: { left: 8, right: 8, top: 32, bottom: 24, containLabel: true },
    tooltip: {
      trigger: "axis",
      axisPointer: { type: "shadow" },
      formatter: (ps: { dataIndex: number }[]) => {
        const i = ps[0].dataIndex;
        return `${escapeHtml(labels[i])}<br>${escapeHtml(t("customers"))}: <b>${int(hist.counts[i])}</b>`;
      },
    },
    xAxis: {
      type: "value",
      min: lo,
      max: lo + n * width,
      name: axisName,
      nameLocation: "middle",
      nameGap: 30,
      nameTextStyle: { color: AXIS_COLOR },
      axisLabel: { color: AXIS_COLOR, formatter: tick, hideOverlap: true, showMinLabel: false, showMaxLabel: false },
      splitLine: { show: false },
    },
    yAxis: {
      type: "value",
      // The axis title above the axis, where no label can push it out of the chart.
      name: t("customers"),
      nameLocation: "end",
      nameGap: 10,
      nameTextStyle: { color: AXIS_COLOR, align: "left" },
      axisLabel: { color: AXIS_COLOR, formatter: (v: number) => int(v) },
      splitLine: { lineStyle: { color: "#eceff4" } },
    },
    series: [
      {
        type: "bar",
        name: t("customers"),
        // Each bar in the middle of its bin; equal bins make the bars as wide as a bin.
        data: hist.counts.map((c, i) => [lo + (i + 0.5) * width, c]),
        barCategoryGap: "8%",
        itemStyle: { color: "#4e79a7" },
      },
    ],
  });
  keyboardChart(
    chart,
    n,
    document.getElementById(`${box.id}-status`)!,
    (i) => `${labels[i]}: ${int(hist.counts[i])} ${t("customersLower")}`,
    (i, key) => ({ ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: n - 1 })[key] ?? null,
  );
}
