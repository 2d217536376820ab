/** Durations in tfgate.yaml are written like `90s`, `30m`, `24h`, `7d` (or a combination: `1h30m`). */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const DURATION = /^(?:\d+[smhd])+$/;

export function parseDurationSeconds(text: string): number | undefined {
  const trimmed = text.trim();
  if (!DURATION.test(trimmed)) return undefined;
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+)([smhd])/g)) {
    total += Number(amount) * UNIT_SECONDS[unit as string]!;
  }
  return total > 0 ? total : undefined;
}
