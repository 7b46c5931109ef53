/** One value out of a Prometheus scrape: the first sample whose name starts with `name` and whose labels hold `labels`; NaN when none. */
export function metricValue(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => !l.startsWith('#') && l.startsWith(name) && l.includes(labels));
  return line === undefined ? Number.NaN : Number(line.split(' ').pop());
}
