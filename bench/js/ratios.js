'use strict';

// The ratios of the throughput table, all within one run, same size and direction:
//   vsMc       over the better of MessageChannel clone and transfer, windowed
//              (at most min(64 MiB, 4096 messages) in flight)
//   vsMcFree   over the better of the two without any window
//   vsBest     over the fastest peer of all (named in bestPeer)
//   vsLimit    over the native limit (bench/cpp/limit.cc) at that size, a fraction
// "The better of" is per size: whichever of clone and transfer was faster there.

const MC_WINDOWED = ['mc-clone', 'mc-transfer'];
const MC_UNWINDOWED = ['mc-clone-free', 'mc-transfer-free'];

/** Adds the ratios to every measured cell of `cells` (throughput cases and limit rows). */
function addRatios(cells) {
  for (const cell of cells) {
    if (!cell.msgPerSec || cell.library === 'limit') continue;
    const same = cells.filter((c) => c.size === cell.size && c.direction === cell.direction && c.msgPerSec);
    const fastest = (list) => list.sort((a, b) => b.msgPerSec - a.msgPerSec)[0];
    const mc = fastest(same.filter((c) => MC_WINDOWED.includes(c.name)));
    const mcFree = fastest(same.filter((c) => MC_UNWINDOWED.includes(c.name)));
    const best = fastest(same.filter((c) => c.library === 'peer'));
    const limit = cells.find((c) => c.library === 'limit' && c.size === cell.size && c.msgPerSec);
    cell.vsMc = mc ? cell.msgPerSec / mc.msgPerSec : null;
    cell.mc = mc?.name ?? null;
    cell.vsMcFree = mcFree ? cell.msgPerSec / mcFree.msgPerSec : null;
    cell.mcFree = mcFree?.name ?? null;
    cell.vsLimit = limit ? cell.msgPerSec / limit.msgPerSec : null;
    if (cell.library === 'ringport' && best) {
      cell.vsBest = cell.msgPerSec / best.msgPerSec;
      cell.bestPeer = best.name;
    }
  }
}

module.exports = { addRatios, MC_WINDOWED, MC_UNWINDOWED };
