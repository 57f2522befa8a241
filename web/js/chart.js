// Mastery by tag as an SVG bar chart: one row per tag, a bar to the estimate and a line across
// the range the model is still unsure about. Drawn with SVG attributes only (the page's CSP
// refuses inline styles), and every label is a Text node.

const SVG = 'http://www.w3.org/2000/svg';

function el(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value != null) node.setAttribute(key, String(value));
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

const finite = (x) => typeof x === 'number' && Number.isFinite(x);

/**
 * The value range to draw: 0..1 for probabilities, else symmetric around 0 (a log-odds skill
 * scale), wide enough for every estimate and its uncertainty.
 */
export function chartDomain(rows) {
  const values = rows.flatMap((r) => [r.rating, r.low, r.high]).filter(finite);
  if (!values.length) return [0, 1];
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  if (lo >= 0 && hi <= 1) return [0, 1];
  const m = Math.max(1, Math.ceil(Math.max(Math.abs(lo), Math.abs(hi))));
  return [-m, m];
}

/** Where the estimate sits between the ends of the domain, as a share from 0 to 1. */
export function share(value, [lo, hi]) {
  return Math.min(1, Math.max(0, (value - lo) / (hi - lo)));
}

/**
 * @param {{tag: string, rating: number, low: number, high: number, sessions: number}[]} rows
 * @returns {SVGSVGElement}
 */
export function masteryChart(rows) {
  const shown = rows.filter((r) => r && typeof r.tag === 'string' && finite(r.rating));
  const domain = chartDomain(shown);
  const label = 150;
  const plot = 420;
  const rowH = 28;
  const top = 8;
  const axis = 28;
  const width = label + plot + 60;
  const height = top + shown.length * rowH + axis;
  const x = (v) => label + share(v, domain) * plot;
  const svg = el('svg', {
    class: 'mastery-chart',
    viewBox: `0 0 ${width} ${height}`,
    width,
    height,
    role: 'img',
    'aria-label': `Mastery by tag, ${shown.length} tags`,
    'data-testid': 'mastery-chart',
  });
  const [lo, hi] = domain;
  const zero = lo < 0 ? x(0) : x(lo);
  // Grid: the ends, and the middle (the skill of an average question, or 50%).
  for (const v of [lo, (lo + hi) / 2, hi]) {
    svg.append(el('line', { x1: x(v), x2: x(v), y1: top, y2: top + shown.length * rowH, class: 'grid' }));
    const text = lo === 0 ? `${Math.round(v * 100)}%` : v > 0 ? `+${v}` : `${v}`;
    svg.append(el('text', { x: x(v), y: height - 8, 'text-anchor': 'middle', class: 'axis' }, text));
  }
  shown.forEach((r, i) => {
    const y = top + i * rowH;
    const mid = y + rowH / 2;
    const low = finite(r.low) ? r.low : r.rating;
    const high = finite(r.high) ? r.high : r.rating;
    const estimate = x(r.rating);
    const g = el('g', { class: 'mastery-row', 'data-testid': 'mastery-row', 'data-tag': r.tag });
    const sessions = finite(r.sessions) ? `, ${r.sessions} session${r.sessions === 1 ? '' : 's'}` : '';
    g.append(el('title', {}, `${r.tag}: ${r.rating.toFixed(2)} (likely ${low.toFixed(2)} to ${high.toFixed(2)})${sessions}`));
    g.append(el('text', { x: label - 8, y: mid + 4, 'text-anchor': 'end', class: 'tag-label' }, r.tag));
    g.append(el('rect', {
      x: Math.min(zero, estimate),
      y: y + 6,
      width: Math.max(1, Math.abs(estimate - zero)),
      height: rowH - 12,
      class: r.rating >= (lo + hi) / 2 ? 'bar strong' : 'bar',
    }));
    // The uncertainty: a line from low to high with ticks at both ends.
    g.append(el('line', { x1: x(low), x2: x(high), y1: mid, y2: mid, class: 'spread', 'data-testid': 'mastery-spread' }));
    for (const end of [low, high]) g.append(el('line', { x1: x(end), x2: x(end), y1: mid - 6, y2: mid + 6, class: 'spread' }));
    g.append(el('circle', { cx: estimate, cy: mid, r: 3.5, class: 'estimate' }));
    g.append(el('text', { x: label + plot + 8, y: mid + 4, class: 'value' }, lo === 0 ? `${Math.round(r.rating * 100)}%` : r.rating.toFixed(1)));
    svg.append(g);
  });
  return svg;
}
