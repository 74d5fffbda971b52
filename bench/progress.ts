/** Progress of the current phase on stderr (cli-progress), only where a human watches. */
import cliProgress from 'cli-progress';

export type ProgressMode = 'auto' | 'on' | 'off';

export interface Progress {
  /** A new bar: `total` is milliseconds (duration runs) or ops (count runs). */
  begin(label: string, total: number, unit: 'ms' | 'ops'): void;
  /** `value` in the unit given to begin; ops completed and the running rate for the text. */
  update(value: number, ops: number, opsPerSec: number): void;
  end(): void;
}

export const silentProgress: Progress = { begin() {}, update() {}, end() {} };

export function createProgress(mode: ProgressMode, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (mode === 'off' || (mode === 'auto' && !stream.isTTY)) return silentProgress;
  let bar: cliProgress.SingleBar | undefined;
  let barTotal = 0;
  return {
    begin(label, total, unit) {
      bar?.stop();
      bar = new cliProgress.SingleBar(
        {
          stream,
          format: `{label} |{bar}| {percentage}% | {ops} ops | {rate} ops/s${unit === 'ms' ? ' | {remaining}s left' : ''}`,
          hideCursor: true,
          clearOnComplete: true,
          fps: 5,
          // `on` on a non-TTY still prints (one line per redraw).
          noTTYOutput: !stream.isTTY,
          notTTYSchedule: 1000,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(Math.max(1, Math.round(total)), 0, { label, ops: 0, rate: 0, remaining: Math.round(total / 1000) });
      barTotal = total;
    },
    update(value, ops, opsPerSec) {
      if (!bar) return;
      const total = barTotal;
      bar.update(Math.min(Math.round(value), Math.max(1, Math.round(total))), {
        ops,
        rate: Math.round(opsPerSec),
        remaining: Math.max(0, Math.ceil((total - value) / 1000)),
      });
    },
    end() {
      bar?.stop();
      bar = undefined;
    },
  };
}
