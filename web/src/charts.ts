// ECharts, with only the chart types and components the dashboard draws, so the bundle stays
// small. Every chart resizes with its box and is disposed when the screen changes.

import { BarChart, HeatmapChart } from "echarts/charts";
import {
  AriaComponent,
  GridComponent,
  TooltipComponent,
  VisualMapComponent,
} from "echarts/components";
import * as echarts from "echarts/core";
import langDE from "echarts/lib/i18n/langDE.js";
import { SVGRenderer } from "echarts/renderers";

import { lang } from "./i18n";

echarts.use([
  BarChart,
  HeatmapChart,
  GridComponent,
  TooltipComponent,
  VisualMapComponent,
  AriaComponent,
  SVGRenderer,
]);
// The charts' own words (tooltips, toolbox); each chart's screen-reader description is written
// by its screen, in the reader's language, rather than left to the aria component's English.
echarts.registerLocale("DE", langDE);

export type ChartOption = echarts.EChartsCoreOption;
export type Chart = echarts.ECharts;

// Colour-blind-friendly (Tableau 10), one per segment in rule order.
export const SEGMENT_COLORS = [
  "#4e79a7",
  "#59a14f",
  "#f28e2b",
  "#76b7b2",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#e15759",
  "#9c755f",
];
export const TEXT_COLOR = "#3b4252";
// Axis labels are text: the muted grey of the page, 5.7:1 on white (WCAG AA asks 4.5:1).
export const AXIS_COLOR = "#5e6779";
export const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

const live: { chart: Chart; observer: ResizeObserver }[] = [];

export function animate(): boolean {
  return !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
}

// The screen-reader description of a chart, for its option.
export function ariaDescription(description: string): ChartOption {
  return { aria: { enabled: true, label: { enabled: true, description } } };
}

// The width of the widest of `labels` in pixels at `size`, for axis labels that must not be
// cut ("Potenzielle Stammku…").
export function textWidth(labels: string[], size = 12): number {
  const ctx = document.createElement("canvas").getContext("2d");
  if (!ctx) return 10 * size;
  ctx.font = `${size}px ${FONT}`;
  return Math.ceil(Math.max(0, ...labels.map((l) => ctx.measureText(l).width)));
}

// Draws `option` into `container` as SVG (its texts are in the page, for screen readers, the
// browser tests and the contrast test). The container gets data-chart="ready" once a render has
// finished (what the browser tests wait for).
export function drawChart(
  container: HTMLElement,
  option: ChartOption,
  onClick?: (params: { dataIndex: number; data: unknown }) => void,
): Chart {
  const chart = echarts.init(container, null, {
    renderer: "svg",
    locale: lang() === "de" ? "DE" : "EN",
  });
  chart.on("finished", () => {
    container.dataset.chart = "ready";
  });
  chart.setOption({
    animation: animate(),
    aria: { enabled: true },
    textStyle: {
      fontFamily: FONT,
      color: TEXT_COLOR,
    },
    ...option,
  });
  if (onClick) {
    chart.on("click", (params) => onClick(params as { dataIndex: number; data: unknown }));
  }
  const observer = new ResizeObserver(() => chart.resize());
  observer.observe(container);
  live.push({ chart, observer });
  return chart;
}

// Changes a drawn chart; data-chart is "ready" again once the new render has finished.
export function updateChart(chart: Chart, option: ChartOption): void {
  const dom = chart.getDom();
  delete dom.dataset.chart;
  chart.setOption(option);
}

export function disposeCharts(): void {
  for (const { chart, observer } of live.splice(0)) {
    observer.disconnect();
    chart.dispose();
  }
}

// Makes a drawn chart reachable with the keyboard: it takes the focus, the arrow keys move
// through its data items (`step` says which index a key leads to from `i`, or null), each shown
// with its tooltip and said in `status` (a live region), and Enter opens the item where the
// chart has a click action.
export function keyboardChart(
  chart: Chart,
  count: number,
  status: HTMLElement,
  say: (i: number) => string,
  step: (i: number, key: string) => number | null,
  open?: (i: number) => void,
): void {
  const box = chart.getDom();
  box.tabIndex = 0;
  let at = -1;
  const show = (i: number) => {
    if (at >= 0) chart.dispatchAction({ type: "downplay", seriesIndex: 0, dataIndex: at });
    at = i;
    chart.dispatchAction({ type: "highlight", seriesIndex: 0, dataIndex: i });
    chart.dispatchAction({ type: "showTip", seriesIndex: 0, dataIndex: i });
    status.textContent = say(i);
  };
  box.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && at >= 0 && open) {
      e.preventDefault();
      open(at);
      return;
    }
    const next = at < 0 ? (e.key.startsWith("Arrow") ? 0 : null) : step(at, e.key);
    if (next === null || next < 0 || next >= count) return;
    e.preventDefault();
    show(next);
  });
  box.addEventListener("blur", () => {
    chart.dispatchAction({ type: "hideTip" });
    if (at >= 0) chart.dispatchAction({ type: "downplay", seriesIndex: 0, dataIndex: at });
  });
}
