/** A small live line chart in SVG: lines only in the drawing, labels and legend in HTML (readable at any width). */
import { chartPaths, type Series } from '../lib/chart.js';

export type { Series };

const COLORS = ['#2451b7', '#c2410c', '#15803d', '#9333ea', '#b91c1c', '#0e7490', '#a16207', '#4b5563'];
const DASHES = ['', '6 3', '2 3', '8 3 2 3', '', '6 3', '2 3', '8 3 2 3'];

interface Props {
  id: string;
  title: string;
  unit: string;
  series: Series[];
  /** How many samples the x axis holds (the newest is at the right edge). */
  capacity: number;
  /** Seconds between samples, for the axis text. */
  stepSeconds?: number;
  format?: (value: number) => string;
}

const defaultFormat = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));

export function LineChart({
  id,
  title,
  unit,
  series,
  capacity,
  stepSeconds = 1,
  format = defaultFormat,
}: Props) {
  const width = 600;
  const height = 160;
  const { paths, max } = chartPaths(series, capacity, width, height);
  const latest = series.map((s) => `${s.name} ${format(s.values[s.values.length - 1] ?? 0)}`).join(', ');
  const label = series.length > 0 ? `${title}, latest: ${latest} ${unit}` : `${title}: no data yet`;

  return (
    <figure class="chart" aria-labelledby={`${id}-caption`}>
      <figcaption id={`${id}-caption`}>
        <span class="chart-title">{title}</span> <span class="muted">({unit})</span>
      </figcaption>
      <div class="chart-frame">
        <span class="chart-max" aria-hidden="true">
          {format(max)}
        </span>
        <svg
          viewBox={`0 0 ${width} ${height}`}
          preserveAspectRatio="none"
          role="img"
          aria-label={label}
          data-chart={id}
        >
          {[0.25, 0.5, 0.75].map((f) => (
            <line
              key={f}
              x1={0}
              x2={width}
              y1={height * f}
              y2={height * f}
              class="grid"
              vector-effect="non-scaling-stroke"
            />
          ))}
          {paths.map((d, i) => (
            <path
              key={series[i]!.name}
              d={d}
              fill="none"
              stroke={COLORS[i % COLORS.length]}
              stroke-width={2}
              stroke-dasharray={DASHES[i % DASHES.length] || undefined}
              vector-effect="non-scaling-stroke"
              data-series={series[i]!.name}
            />
          ))}
        </svg>
        <span class="chart-min" aria-hidden="true">
          0
        </span>
      </div>
      <p class="chart-axis muted" aria-hidden="true">
        last {Math.round(capacity * stepSeconds)} s → now
      </p>
      {series.length === 0 ? (
        <p class="muted">No data yet.</p>
      ) : (
        <table class="legend">
          <caption class="sr-only">{title}: current values</caption>
          <tbody>
            {series.map((s, i) => (
              <tr key={s.name}>
                <th scope="row">
                  <svg class="swatch" viewBox="0 0 24 8" aria-hidden="true">
                    <line
                      x1={0}
                      x2={24}
                      y1={4}
                      y2={4}
                      stroke={COLORS[i % COLORS.length]}
                      stroke-width={3}
                      stroke-dasharray={DASHES[i % DASHES.length] || undefined}
                    />
                  </svg>
                  {s.name}
                </th>
                <td data-value={s.values[s.values.length - 1] ?? 0}>
                  {format(s.values[s.values.length - 1] ?? 0)} {unit}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </figure>
  );
}
