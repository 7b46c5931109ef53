/** Poll until a condition holds; fails the test, naming the condition, when it does not within `ms`. */
export async function until(condition: () => boolean | Promise<boolean>, ms = 10_000, pollMs = 20): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await condition()) return;
    if (Date.now() >= end) throw new Error(`not true within ${ms} ms: ${condition.toString()}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
