/** Waiting helpers for end-to-end tests that print a seed: a timeout names the seed to replay. */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `done` every `pollMs` until it holds; after `timeoutMs` throws naming the seed and what it waited for. */
export async function waitForSeeded(
  seed: number,
  done: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string | (() => string),
  pollMs = 50,
): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await done());) {
    if (Date.now() > deadline) throw new Error(`seed ${seed}: timed out waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(pollMs);
  }
}
