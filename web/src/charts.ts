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
import { CanvasRenderer } from "echarts/renderers";

import { lang } from "./i18n";

echarts.use([
  BarChart,
  HeatmapChart,
  GridComponent,
  TooltipComponent,
  VisualMapComponent,
  AriaComponent,
  CanvasRenderer,
]);
// The charts' own words (the screen-reader descriptions of the aria component).
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
export const AXIS_COLOR = "#8a94a6";

const live: { chart: Chart; observer: ResizeObserver }[] = [];

export function animate(): boolean {
  return !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
}

// Draws `option` into `container`. The container gets data-chart="ready" once a render has
// finished (what the browser tests wait for).
export function drawChart(
  container: HTMLElement,
  option: ChartOption,
  onClick?: (params: { dataIndex: number; data: unknown }) => void,
): Chart {
  const chart = echarts.init(container, null, {
    renderer: "canvas",
    locale: lang() === "de" ? "DE" : "EN",
  });
  chart.on("finished", () => {
    container.dataset.chart = "ready";
  });
  chart.setOption({
    animation: animate(),
    aria: { enabled: true },
    textStyle: {
      fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
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
