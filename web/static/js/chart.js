// Small charts drawn as inline SVG: stacked bars and lines. No chart library.
// Each chart is an <figure> with a text summary for screen readers; the exact numbers are
// in the table the overview shows beside it.

import { h, svg } from "./dom.js";

export const PALETTE = ["#2f6fde", "#e8710a", "#1e9e6a", "#a142f4", "#d93a6c", "#00838f", "#8d6e63", "#5f6b7a"];

const W = 720;
const H = 260;
const PAD = { top: 14, right: 14, bottom: 30, left: 40 };

/** A round axis: {max, ticks} with whole-number steps of 1, 2, 5 or 10 × 10^n. */
function niceAxis(value, wanted = 4) {
  const raw = Math.max(1, value) / wanted;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw && Number.isInteger(s)) || Math.ceil(raw);
  const ticks = Math.max(1, Math.ceil(Math.max(1, value) / step));
  return { max: step * ticks, ticks };
}

function frame({ yMax, ticks, labels, labelEvery = 1, formatY = String, zones = [] }) {
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const y = (v) => PAD.top + innerH - (v / yMax) * innerH;
  const step = innerW / labels.length;
  const parts = [];
  for (const zone of zones) {
    parts.push(svg("rect", { x: PAD.left, width: innerW, y: y(zone.to), height: y(zone.from) - y(zone.to), class: `zone zone--${zone.name}` }));
  }
  for (let i = 0; i <= ticks; i++) {
    const value = (yMax / ticks) * i;
    parts.push(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: y(value), y2: y(value), class: i === 0 ? "axis" : "grid" }));
    parts.push(svg("text", { x: PAD.left - 8, y: y(value) + 4, class: "tick", "text-anchor": "end" }, formatY(value)));
  }
  labels.forEach((label, i) => {
    if (i % labelEvery !== 0) return;
    parts.push(svg("text", { x: PAD.left + step * i + step / 2, y: H - 10, class: "tick", "text-anchor": "middle" }, label));
  });
  return { parts, y, step, innerH };
}

/** series: [{name, color, values: [n...]}], labels: bucket labels. */
export function stackedBars({ series, labels, title, summary, labelEvery = 1, tooltip }) {
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
  const axis = niceAxis(Math.max(1, ...totals));
  const { parts, y, step } = frame({ yMax: axis.max, ticks: axis.ticks, labels, labelEvery, formatY: (v) => String(Math.round(v)) });
  const barW = Math.max(3, step * 0.68);
  labels.forEach((label, i) => {
    let base = 0;
    for (const s of series) {
      const value = s.values[i] || 0;
      if (!value) continue;
      const top = base + value;
      parts.push(
        svg(
          "rect",
          { x: PAD.left + step * i + (step - barW) / 2, y: y(top), width: barW, height: Math.max(1, y(base) - y(top)), fill: s.color, class: "bar", rx: 1.5 },
          svg("title", {}, tooltip(s, i, value)),
        ),
      );
      base = top;
    }
  });
  return figure(title, summary, parts);
}

/** series: [{name, color, values: [n | null ...]}] on a 0-100 scale with band zones. */
export function lines({ series, labels, title, summary, labelEvery = 1, zones = [], tooltip }) {
  const { parts, y, step } = frame({ yMax: 100, ticks: 5, labels, labelEvery, zones });
  for (const s of series) {
    let d = "";
    let pen = false;
    s.values.forEach((value, i) => {
      if (value === null || value === undefined) {
        pen = false;
        return;
      }
      const x = PAD.left + step * i + step / 2;
      d += `${pen ? "L" : "M"}${x.toFixed(1)},${y(value).toFixed(1)} `;
      pen = true;
    });
    if (d) parts.push(svg("path", { d, stroke: s.color, class: "line" }));
    s.values.forEach((value, i) => {
      if (value === null || value === undefined) return;
      parts.push(
        svg("circle", { cx: PAD.left + step * i + step / 2, cy: y(value), r: 3.2, fill: s.color, class: "point" }, svg("title", {}, tooltip(s, i, value))),
      );
    });
  }
  return figure(title, summary, parts);
}

function figure(title, summary, parts) {
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart__svg", role: "img", "aria-label": `${title}. ${summary}` }, ...parts);
  return h("figure", { class: "chart" }, chart);
}

export function legend(series) {
  return h(
    "ul",
    { class: "legend" },
    series.map((s) => h("li", {}, h("span", { class: "legend__swatch", style: { background: s.color }, "aria-hidden": "true" }), s.name)),
  );
}
