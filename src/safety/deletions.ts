import type { SettingsFile } from '../config/file.js';

type Threshold = SettingsFile['safety']['deletionThreshold'];

/** The percentage applies only from this many changes, so a small store is not held for a few. */
export const PERCENT_MINIMUM = 10;

/** Whether `changes` disables and deletes in one cycle are too many to apply without approval. */
export function exceedsThreshold(changes: number, linkedUsers: number, t: Threshold): string | null {
  if (!t.enabled || changes === 0) return null;
  if (t.count !== null && changes > t.count)
    return `${changes} disables and deletes exceed the threshold of ${t.count}`;
  if (t.percent !== null && changes >= PERCENT_MINIMUM && changes > (linkedUsers * t.percent) / 100) {
    return `${changes} disables and deletes exceed ${t.percent}% of the ${linkedUsers} users linked to Entra`;
  }
  return null;
}
