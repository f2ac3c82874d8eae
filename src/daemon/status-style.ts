/**
 * The status page's only stylesheet, inline; the Content-Security-Policy allows it by its hash, so it
 * must stay a constant (no value interpolated). Colours of the chart's actions are classes here, as
 * the policy forbids style attributes.
 */
export const STYLESHEET = `
:root { color-scheme: light; font: 14px/1.45 system-ui, sans-serif; color: #1d2330; background: #f5f6f8; }
body { margin: 0 auto; max-width: 1100px; padding: 16px 24px 32px; }
h1 { font-size: 22px; margin: 8px 0 2px; }
h2 { font-size: 16px; margin: 0 0 8px; }
.muted, caption, .note, .label { color: #5b6475; }
section, table, .notice { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; margin: 12px 0; }
section { padding: 12px 16px; }
.running { border-color: #3b6fd8; }
progress { width: 100%; height: 18px; }
.amount { font-size: 15px; margin: 6px 0 2px; }
.notice { padding: 8px 12px; border-color: #d9822b; background: #fff7ec; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 10px; margin: 12px 0; }
.tile { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: 10px 12px; }
.tile.alert { border-color: #c2412d; background: #fff1ee; }
.tile .value { font-size: 22px; font-weight: 600; }
.label, .note { font-size: 12px; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; font-weight: 600; padding: 8px 12px; }
th, td { text-align: left; padding: 4px 12px; border-top: 1px solid #eceff3; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td, tr.aborted td { background: #fff1ee; }
td.user { white-space: pre-wrap; word-break: break-all; }
code { font-size: 12px; }
.chart { max-width: 100%; height: auto; }
.chart .axis { font-size: 11px; fill: #5b6475; }
.chart .grid { stroke: #dde1e8; }
.chart .baseline { fill: #9aa3b2; }
.chart .failed-slot { fill: #fde2dd; }
.chart polyline.duration { fill: none; stroke: #1d2330; stroke-width: 1.5; }
.chart circle.duration { fill: #1d2330; }
.legend { font-size: 12px; color: #5b6475; }
.key { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 10px; border-radius: 2px; }
.key.duration { height: 2px; background: #1d2330; }
.c-create { fill: #2e9d57; background: #2e9d57; }
.c-link { fill: #1f8a8a; background: #1f8a8a; }
.c-update { fill: #3b6fd8; background: #3b6fd8; }
.c-enable { fill: #8cc63f; background: #8cc63f; }
.c-disable { fill: #d9822b; background: #d9822b; }
.c-delete { fill: #c2412d; background: #c2412d; }
.c-staged { fill: #8a5cc2; background: #8a5cc2; }
.c-error { fill: #7a1f1f; background: #7a1f1f; }
`;
