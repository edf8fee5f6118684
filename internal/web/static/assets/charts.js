// charts.js: SVG line charts for metric series. No library, no inline
// styles: colours come from classes in app.css.

import { h, fmtClock } from './ui.js';

const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten.
function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) {
    if (v <= m * p) return m * p;
  }
  return 10 * p;
}

// lineChart draws points [{t: ms, v: number|null}] as a line; gaps (null)
// break the line. format renders a value for the axis and the caption.
export function lineChart({ id, title, points, format = (v) => String(v), fixedMax, unitNote, integer = false }) {
  // A narrower drawing on phones keeps the axis labels readable when scaled.
  const W = window.matchMedia('(max-width: 640px)').matches ? 340 : 560;
  const H = 200;
  const L = 56;
  const R = 12;
  const T = 12;
  const B = 28;
  const known = points.filter((p) => p.v !== null && p.v !== undefined && Number.isFinite(p.v));
  const last = known.length ? known[known.length - 1] : null;
  const fig = h('figure', { class: 'chart', id, 'data-points': String(known.length) });
  const cap = h('figcaption', {},
    h('span', { class: 'chart-title' }, title),
    h('span', { class: 'chart-last' }, last ? format(last.v) : 'no data'),
    unitNote ? h('span', { class: 'chart-note' }, unitNote) : null);
  fig.append(cap);
  if (known.length === 0) {
    fig.append(h('p', { class: 'chart-empty' }, 'No samples in this period yet. The collector samples every database periodically.'));
    return fig;
  }
  const t0 = Math.min(...points.map((p) => p.t));
  const t1 = Math.max(...points.map((p) => p.t));
  const span = Math.max(t1 - t0, 1);
  let vmax = fixedMax !== undefined ? fixedMax : niceMax(Math.max(...known.map((p) => p.v)));
  if (integer) {
    // Counts: the middle grid line must be a whole number too.
    vmax = Math.max(vmax, 2);
    if (vmax % 2 !== 0) vmax *= 2;
  }
  const x = (t) => L + ((t - t0) / span) * (W - L - R);
  const y = (v) => T + (1 - v / vmax) * (H - T - B);

  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}: ${known.length} samples, latest ${format(last.v)}`, class: 'chart-svg' });
  // Grid and y axis labels.
  for (const f of [0, 0.5, 1]) {
    const v = vmax * f;
    svg.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: f === 0 ? 'axis' : 'grid' }));
    svg.append(s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, format(v)));
  }
  // x axis labels: start, middle and end.
  svg.append(s('text', { x: L, y: H - 8, 'text-anchor': 'start', class: 'tick' }, fmtClock(t0, span)));
  if (t1 > t0) svg.append(s('text', { x: (L + W - R) / 2, y: H - 8, 'text-anchor': 'middle', class: 'tick' }, fmtClock((t0 + t1) / 2, span)));
  svg.append(s('text', { x: W - R, y: H - 8, 'text-anchor': 'end', class: 'tick' }, fmtClock(t1, span)));

  // Line segments split at gaps, and an area under them.
  let seg = [];
  const segs = [];
  for (const p of points) {
    if (p.v === null || p.v === undefined || !Number.isFinite(p.v)) {
      if (seg.length) segs.push(seg);
      seg = [];
    } else {
      seg.push(p);
    }
  }
  if (seg.length) segs.push(seg);
  for (const sg of segs) {
    const d = sg.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
    if (sg.length > 1) {
      const area = `${d} L${x(sg[sg.length - 1].t).toFixed(1)},${y(0).toFixed(1)} L${x(sg[0].t).toFixed(1)},${y(0).toFixed(1)} Z`;
      svg.append(s('path', { d: area, class: 'area' }));
    }
    svg.append(s('path', { d, class: 'line' }));
    if (sg.length <= 30) {
      for (const p of sg) svg.append(s('circle', { cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: 2.5, class: 'dot' }));
    }
  }
  fig.append(svg);
  return fig;
}
