// bench/chart.svg from bench/results.json: ringport's throughput ratio per message size
// and receive/send method, against MessageChannel, the best peer and the native limit,
// for both directions. Vega-Lite compiles the spec, Vega renders SVG headless (no browser, no
// canvas).
//
//   npm run bench:chart [-- results.json [chart.svg]]

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { formatSize as sizeName } from './js/format.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const [input = path.join(here, 'results.json'), output = path.join(here, 'chart.svg')] = process.argv.slice(2);

const DIRECTIONS = { w2m: 'worker → main', m2w: 'main → worker' };
const BASELINES = { vsMc: '× MessageChannel (better of clone/transfer)', vsBest: '× best peer', vsLimit: '× native limit' };

const results = JSON.parse(fs.readFileSync(input, 'utf8'));
const cases = results.throughput?.cases.filter((c) => c.library === 'ringport' && c.msgPerSec) ?? [];
if (!cases.length) {
  console.error(`${input} has no ringport throughput results: run npm run bench first`);
  process.exit(1);
}

const t = results.throughput;
const sizes = [...new Set(cases.map((c) => c.size))].sort((a, b) => a - b).map(sizeName);
const values = cases.flatMap((c) =>
  Object.entries(BASELINES)
    .filter(([key]) => c[key])
    .map(([key, baseline]) => ({
      size: sizeName(c.size),
      method: c.label.replaceAll('`', '').replace(/^ringport /, ''),
      direction: DIRECTIONS[c.direction],
      baseline,
      ratio: c[key],
    })),
);

const spec = {
  title: { text: `ringport throughput ratio (${t.node}, ${t.cores} cores, ${t.date.slice(0, 10)})`, subtitle: loadNote(t), anchor: 'start' },
  data: { values },
  facet: {
    row: { field: 'baseline', type: 'nominal', title: null, sort: Object.values(BASELINES) },
    column: { field: 'direction', type: 'nominal', title: null, sort: Object.values(DIRECTIONS) },
  },
  spec: {
    width: 320,
    height: 220,
    layer: [
      { mark: { type: 'rule', strokeDash: [4, 4], color: '#888' }, encoding: { y: { datum: 1 } } },
      {
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'size', type: 'ordinal', sort: sizes, title: 'message size' },
          y: { field: 'ratio', type: 'quantitative', scale: { type: 'log' }, title: 'ratio (log scale; 1 = as fast)' },
          // 20 colours: one per method (the default 10 repeat across the 14 methods).
          color: { field: 'method', type: 'nominal', title: 'ringport method', legend: { labelLimit: 0 }, scale: { scheme: 'tableau20' } },
        },
      },
    ],
  },
  resolve: { scale: { y: 'shared' } },
};

const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
fs.writeFileSync(output, await view.toSVG());
console.error(`chart written to ${path.relative(process.cwd(), output)}`);

// Others' work while the numbers were taken (bench/run.js measures it).
function loadNote({ othersCores, cores }) {
  if (othersCores == null) return '';
  const note = `other processes kept ${Math.max(0, othersCores).toFixed(1)} of ${cores} cores busy meanwhile`; // never "-0.0"
  return othersCores > 0.25 ? `provisional: ${note}` : note;
}
