/**
 * JSON that keeps Sets and Maps: detectors' per-chain scratch holds Sets, and open chains travel
 * between Kafka detect workers as JSON. A Set is written {"$set": [...]}, a Map {"$map": [[k, v]...]}.
 */
export function stringifyWithSets(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v instanceof Set ? { $set: [...v] } : v instanceof Map ? { $map: [...v] } : v));
}

export function parseWithSets<T>(text: string): T {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const o = v as Record<string, unknown>;
    if (Array.isArray(o.$set) && Object.keys(o).length === 1) return new Set(o.$set);
    if (Array.isArray(o.$map) && Object.keys(o).length === 1) return new Map(o.$map as [unknown, unknown][]);
    return v;
  }) as T;
}
