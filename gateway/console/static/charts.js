// Hand-drawn SVG line charts of the samples the page keeps while it polls.
import { h } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 320;
const HEIGHT = 120;
const PAD = { left: 6, right: 6, top: 18, bottom: 16 };

function svg(tag, attributes = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  return node;
}

/**
 * A chart of one or more series of [time in ms, value] points over the last `span` ms.
 * `format` writes a value for the axis and the summary read by screen readers.
 */
export function lineChart({ title, series, span, format }) {
  const now = Date.now();
  const values = series.flatMap((line) => line.points.map(([, value]) => value));
  const top = Math.max(...values.filter((value) => value !== null), 0) || 1;
  const x = (time) => PAD.left + ((time - (now - span)) / span) * (WIDTH - PAD.left - PAD.right);
  const y = (value) => HEIGHT - PAD.bottom - (value / top) * (HEIGHT - PAD.top - PAD.bottom);

  const latest = series
    .map((line) => {
      const last = line.points.findLast(([, value]) => value !== null);
      return `${line.label} ${last ? format(last[1]) : "no data"}`;
    })
    .join(", ");
  const chart = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    "aria-label": `${title}: ${latest}`,
    class: "chart",
  });
  chart.append(
    svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0), class: "axis" }),
    svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(top), y2: y(top), class: "grid" }),
  );
  const topLabel = svg("text", { x: PAD.left, y: PAD.top - 5, class: "tick" });
  topLabel.textContent = format(top);
  const startLabel = svg("text", { x: PAD.left, y: HEIGHT - 3, class: "tick" });
  startLabel.textContent = `−${Math.round(span / 60000)} min`;
  const endLabel = svg("text", { x: WIDTH - PAD.right, y: HEIGHT - 3, class: "tick end" });
  endLabel.textContent = "now";
  chart.append(topLabel, startLabel, endLabel);

  for (const line of series) {
    // A gap (null) breaks the line: no data then, e.g. the page was hidden.
    let path = "";
    let pen = "M";
    for (const [time, value] of line.points) {
      if (time < now - span) continue;
      if (value === null) {
        pen = "M";
        continue;
      }
      path += `${pen}${x(time).toFixed(1)},${y(value).toFixed(1)}`;
      pen = "L";
    }
    chart.append(svg("path", { d: path, class: `line ${line.className}` }));
  }
  const legend = h(
    "ul",
    { class: "legend" },
    series.map((line) => h("li", { class: line.className }, line.label)),
  );
  return h("figure", { class: "card chart-card" }, h("figcaption", {}, title), chart, legend);
}
