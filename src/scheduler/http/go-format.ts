/**
 * PD's JSON speaks Go: durations as `time.Duration` strings ("30m0s", "100ms"), byte sizes as
 * go-units' humanized binary sizes ("1.5GiB"), times as RFC 3339. Pure conversions both ways.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

/** Longest duration text accepted; Go's own durations fit in far less. */
const DURATION_MAX_CHARS = 64;

/**
 * Parses a Go duration ("30m", "1h30m", "1.5s", "250ms", "0") into milliseconds; undefined when
 * the text is not one, is negative, or is not a whole number of milliseconds.
 */
export function parseGoDurationMs(text: string): number | undefined {
  if (text.length === 0 || text.length > DURATION_MAX_CHARS) return undefined;
  if (text === '0') return 0;
  const part = /([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)/y;
  let totalMs = 0;
  let at = 0;
  while (at < text.length) {
    part.lastIndex = at;
    const match = part.exec(text);
    const digits = match?.[1];
    const unit = match?.[2];
    if (!match || digits === undefined || unit === undefined || digits === '' || digits === '.') return undefined;
    totalMs += Number(digits) * (UNIT_MS[unit] ?? Number.NaN);
    at = part.lastIndex;
  }
  // Floating sums like 0.1h need rounding to the millisecond they mean; sub-millisecond values stay refused.
  const rounded = Math.round(totalMs * 1e6) / 1e6;
  return Number.isSafeInteger(rounded) ? rounded : undefined;
}

/** Formats whole milliseconds as Go's Duration.String does ("30m0s", "1h0m0s", "100ms", "1.5s", "0s"). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1_000) return `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = Math.floor((ms % 60_000) / 1_000);
  const fraction = ms % 1_000 === 0 ? '' : `.${String(ms % 1_000).padStart(3, '0')}`.replace(/0+$/, '');
  const h = hours > 0 ? `${hours}h` : '';
  const m = hours > 0 || minutes > 0 ? `${minutes}m` : '';
  return `${h}${m}${seconds}${fraction}s`;
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'] as const;

/** A byte count as go-units' BytesSize: four significant digits, binary units ("0B", "1.5KiB", "931.5GiB"). */
export function formatByteSize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < BINARY_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number(value.toPrecision(4))}${BINARY_UNITS[unit] ?? 'B'}`;
}

/** Wall-clock ms as RFC 3339 (UTC), Go's time.Time JSON. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString();
}
