// Distributions: the R×F heat map (a click lists the cell's customers) and histograms of CLV
// and recency.

import { getJson, type Distributions, type Histogram } from "../api";
import { AXIS_COLOR, drawChart } from "../charts";
import { clear, h } from "../dom";
import { int, money, moneyShort, decimal } from "../format";
import { t } from "../i18n";
import { card, errorBox, loading, type ViewContext } from "./common";
import { escapeHtml } from "./overview";

export async function renderDistributions(main: HTMLElement, ctx: ViewContext): Promise<void> {
  main.append(loading());
  let d: Distributions;
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
  const clv = h("div", { class: "chart chart-histogram", id: "clv-histogram" });
  const recency = h("div", { class: "chart chart-histogram", id: "recency-histogram" });
  main.append(
    h("div", { class: "page-head" }, h("div", null, h("h1", null, t("navDistributions")))),
    h(
      "div",
      { class: "dist-grid" },
      card(t("rfTitle"), h("p", { class: "muted" }, t("rfIntro")), heat),
      card(t("clvHistogram"), clv, h("p", { class: "muted small" }, t("histogramNote"))),
      card(t("recencyHistogram"), recency, h("p", { class: "muted small" }, t("histogramNote"))),
    ),
  );

  drawHeatmap(heat, d, ctx);
  drawHistogram(clv, d.clv, (lo, hi) =>
    hi === null ? `≥ ${moneyShort(lo, d.currency)}` : `${moneyShort(lo, d.currency)} – ${moneyShort(hi, d.currency)}`,
  );
  drawHistogram(recency, d.recency_days, (lo, hi) =>
    hi === null
      ? `≥ ${t("daysUnit", { n: decimal(lo, 0) })}`
      : `${decimal(lo, 0)} – ${t("daysUnit", { n: decimal(hi, 0) })}`,
  );
}

function drawHeatmap(box: HTMLElement, d: Distributions, ctx: ViewContext): void {
  const scores = ["1", "2", "3", "4", "5"];
  const max = Math.max(1, ...d.rf_grid.map((c) => c.customers));
  const data = d.rf_grid.map((c) => ({ value: [c.f - 1, c.r - 1, c.customers], cell: c }));
  drawChart(
    box,
    {
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
      visualMap: {
        min: 0,
        max,
        show: false,
        inRange: { color: ["#f2f6fb", "#9ec3e6", "#4e79a7", "#1f3f66"] },
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
}

// Bin i covers [edges[i], edges[i+1]); the last bin is open-ended (everything above the 99th
// percentile lands there).
function drawHistogram(
  box: HTMLElement,
  hist: Histogram,
  label: (lo: number, hi: number | null) => string,
): void {
  const n = hist.counts.length;
  const labels = hist.counts.map((_, i) => label(hist.edges[i], i === n - 1 ? null : hist.edges[i + 1]));
  drawChart(box, {
    grid: { left: 8, right: 8, top: 16, bottom: 8, containLabel: true },
    tooltip: {
      trigger: "axis",
      axisPointer: { type: "shadow" },
      formatter: (ps: { dataIndex: number }[]) => {
        const i = ps[0].dataIndex;
        return `${escapeHtml(labels[i])}<br>${escapeHtml(t("customers"))}: <b>${int(hist.counts[i])}</b>`;
      },
    },
    xAxis: {
      type: "category",
      data: labels,
      axisLabel: {
        color: AXIS_COLOR,
        formatter: (v: string) => v.split(" – ")[0],
        hideOverlap: true,
      },
      axisTick: { alignWithLabel: true },
    },
    yAxis: {
      type: "value",
      axisLabel: { color: AXIS_COLOR, formatter: (v: number) => int(v) },
      splitLine: { lineStyle: { color: "#eceff4" } },
    },
    series: [
      {
        type: "bar",
        name: t("customers"),
        data: hist.counts,
        barCategoryGap: "8%",
        itemStyle: { color: "#4e79a7" },
      },
    ],
  });
}
