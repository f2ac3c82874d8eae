import type { StatusDocument } from '../sync/status.js';
import { duration, escapeHtml, num, time } from './status-html.js';

/** The actions drawn, bottom to top; skips are left out (they change nothing, and would dwarf the rest). */
export const CHART_ACTIONS = ['create', 'link', 'update', 'enable', 'disable', 'delete', 'staged', 'error'];

const WIDTH = 720;
const HEIGHT = 200;
const PAD = { left: 48, right: 56, top: 12, bottom: 28 };

type Cycle = StatusDocument['lastCycles'][number];

/**
 * Inline SVG over the finished cycles of `lastCycles` (newest first there, oldest left here): one
 * stacked bar of changes by action per cycle and a line of durations on its own scale. Colours are
 * CSS classes of the page's stylesheet, so the strict Content-Security-Policy holds.
 */
export function cycleChart(lastCycles: readonly Cycle[]): string {
  const cycles = lastCycles.filter((c) => c.endedAt !== null).reverse();
  if (cycles.length === 0) return '<p class="muted">No finished cycle yet.</p>';
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const changes = (c: Cycle) => CHART_ACTIONS.reduce((sum, a) => sum + (c.counts[a] ?? 0), 0);
  const maxChanges = Math.max(1, ...cycles.map(changes));
  const seconds = cycles.map((c) => (c.durationMs ?? 0) / 1000);
  const maxSeconds = Math.max(1, ...seconds);
  const slot = plotW / cycles.length;
  const barW = Math.max(2, Math.min(48, slot * 0.6));
  const y = (value: number, max: number) => PAD.top + plotH - (value / max) * plotH;
  const r = (n: number) => Math.round(n * 10) / 10;

  const bars = cycles.map((c, i) => {
    const x = PAD.left + slot * i + (slot - barW) / 2;
    let base = PAD.top + plotH;
    const parts = CHART_ACTIONS.filter((a) => (c.counts[a] ?? 0) > 0).map((a) => {
      const h = ((c.counts[a] ?? 0) / maxChanges) * plotH;
      base -= h;
      return `<rect class="c-${a}" x="${r(x)}" y="${r(base)}" width="${r(barW)}" height="${r(Math.max(h, 0.5))}"/>`;
    });
    const summary = CHART_ACTIONS.filter((a) => (c.counts[a] ?? 0) > 0)
      .map((a) => `${num(c.counts[a]!)} ${a}`)
      .join(', ');
    const label = `${time(c.startedAt)}: ${c.kind}, ${c.status}, ${summary || 'no changes'}, ${duration(seconds[i]!)}`;
    const failed = c.status !== 'succeeded';
    return (
      `<g class="cycle${failed ? ' failed' : ''}" data-cycle="${escapeHtml(c.id)}"><title>${escapeHtml(label)}</title>` +
      (failed
        ? `<rect class="failed-slot" x="${r(PAD.left + slot * i)}" y="${PAD.top}" width="${r(slot)}" height="${plotH}"/>`
        : '') +
      // A sliver at the baseline, so a cycle without changes still shows as one.
      `<rect class="baseline" x="${r(x)}" y="${r(PAD.top + plotH - 1)}" width="${r(barW)}" height="1"/>` +
      parts.join('') +
      `<text class="axis" x="${r(x + barW / 2)}" y="${HEIGHT - 10}" text-anchor="middle">${escapeHtml(c.startedAt.slice(11, 19))}</text></g>`
    );
  });

  const points = seconds
    .map((s, i) => `${r(PAD.left + slot * i + slot / 2)},${r(y(s, maxSeconds))}`)
    .join(' ');
  const dots = seconds
    .map(
      (s, i) =>
        `<circle class="duration" cx="${r(PAD.left + slot * i + slot / 2)}" cy="${r(y(s, maxSeconds))}" r="3"/>`,
    )
    .join('');
  const right = WIDTH - PAD.right;
  return (
    `<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img" aria-labelledby="chart-title">` +
    `<title id="chart-title">Changes (bars) and duration (line) of the last ${cycles.length} cycles</title>` +
    `<line class="grid" x1="${PAD.left}" y1="${PAD.top}" x2="${right}" y2="${PAD.top}"/>` +
    `<line class="grid" x1="${PAD.left}" y1="${PAD.top + plotH}" x2="${right}" y2="${PAD.top + plotH}"/>` +
    `<text class="axis" x="${PAD.left - 6}" y="${PAD.top + 4}" text-anchor="end">${num(maxChanges)}</text>` +
    `<text class="axis" x="${PAD.left - 6}" y="${PAD.top + plotH}" text-anchor="end">0</text>` +
    `<text class="axis duration-axis" x="${right + 6}" y="${PAD.top + 4}">${escapeHtml(duration(maxSeconds))}</text>` +
    `<text class="axis duration-axis" x="${right + 6}" y="${PAD.top + plotH}">0 s</text>` +
    bars.join('') +
    (cycles.length > 1 ? `<polyline class="duration" points="${points}"/>` : '') +
    dots +
    `</svg>` +
    `<p class="legend">${CHART_ACTIONS.map((a) => `<span class="key c-${a}"></span>${a}`).join(' ')} <span class="key duration"></span>duration (right scale)</p>`
  );
}
