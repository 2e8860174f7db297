'use strict';

// Number formatting shared by the report, the targets and the progress lines.

/** 64 B, 4 KiB, 1 MiB. */
function formatSize(bytes) {
  if (bytes >= 1 << 20 && bytes % (1 << 20) === 0) return `${bytes / (1 << 20)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/** 2.23 M, 345 k, 4.1 k, 980. */
function formatRate(perSecond) {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)} M`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(perSecond >= 1e5 ? 0 : 1)} k`;
  return perSecond.toFixed(0);
}

/** Megabytes (10⁶ bytes) per second: 14,604 or 62.7. */
function formatMB(bytesPerSecond) {
  const mb = bytesPerSecond / 1e6;
  return mb >= 100 ? Math.round(mb).toLocaleString('en-US') : mb.toFixed(1);
}

/** 52.3 ns, 33.1 µs, 2.65 ms. */
function formatNs(ns) {
  const [unit, scale] = ns >= 1e6 ? ['ms', 1e6] : ns >= 1e3 ? ['µs', 1e3] : ['ns', 1];
  return `${(ns / scale).toPrecision(3)} ${unit}`;
}

/** 1.53× */
function formatRatio(ratio) {
  return ratio == null ? '—' : `${ratio.toFixed(2)}×`;
}

module.exports = { formatSize, formatRate, formatMB, formatNs, formatRatio };
