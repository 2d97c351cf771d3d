/** Geometry of the live charts, and turning a window of samples into series. */

export interface Series {
  name: string;
  values: number[];
}

/** The smallest 1, 2 or 5 × 10^k at or above `value` (at least 1): a round top for the y axis. */
export function niceMax(value: number): number {
  if (!(value > 1)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (step * magnitude >= value) return step * magnitude;
  }
  return 10 * magnitude;
}

/**
 * SVG path data, one per series. The newest value sits at the right edge and each older one a
 * step to the left, so a window that is not full yet grows in from the right.
 */
export function chartPaths(
  series: Series[],
  capacity: number,
  width: number,
  height: number,
): { paths: string[]; max: number } {
  const top = Math.max(0, ...series.flatMap((s) => s.values.filter(Number.isFinite)));
  const max = niceMax(top);
  const step = width / Math.max(1, capacity - 1);
  const pad = 2;
  const paths = series.map((s) => {
    const values = s.values.slice(-capacity);
    const offset = capacity - values.length;
    return values
      .map((v, i) => {
        const x = (offset + i) * step;
        const y = height - pad - (Math.max(0, Number.isFinite(v) ? v : 0) / max) * (height - 2 * pad);
        return `${i === 0 ? 'M' : 'L'}${x.toFixed(1)},${y.toFixed(1)}`;
      })
      .join(' ');
  });
  return { paths, max };
}

/**
 * One series per name seen anywhere in the window (a topic that appears later starts at 0), in
 * name order so colours stay put.
 */
export function seriesOf<S>(samples: S[], pick: (sample: S) => Record<string, number>): Series[] {
  const names = new Set<string>();
  const picked = samples.map((s) => pick(s));
  for (const p of picked) for (const name of Object.keys(p)) names.add(name);
  return [...names].sort().map((name) => ({ name, values: picked.map((p) => p[name] ?? 0) }));
}

/** Appends a sample, keeping the newest `capacity`. */
export function pushSample<S>(samples: S[], sample: S, capacity: number): S[] {
  const next = [...samples, sample];
  return next.length > capacity ? next.slice(next.length - capacity) : next;
}
