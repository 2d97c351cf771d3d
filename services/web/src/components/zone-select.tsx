import { useMemo } from 'preact/hooks';
import { timeZones } from '../lib/time.js';

/** Every IANA time zone the browser knows, UTC first; the label reads without underscores. */
export function ZoneSelect({
  id,
  value,
  onChange,
}: {
  id: string;
  value: string;
  onChange: (zone: string) => void;
}) {
  const zones = useMemo(timeZones, []);
  return (
    <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
      {zones.map((z) => (
        <option key={z} value={z}>
          {z.replace(/_/g, ' ')}
        </option>
      ))}
    </select>
  );
}
