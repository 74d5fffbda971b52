// Small process-level helpers shared by tests that start servers in-process.
import { readdirSync } from 'node:fs';
import { createServer, type Server as NetServer } from 'node:net';

/** Holds a loopback port with a plain TCP listener, the way another program would; the caller closes it. */
export async function takePort(blockers: NetServer[]): Promise<string> {
  const blocker = createServer();
  blockers.push(blocker);
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const address = blocker.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return `127.0.0.1:${address.port}`;
}

/** OS threads of this process (Linux; 0 elsewhere): a worker thread left running shows here. */
export function osThreads(): number {
  try {
    return readdirSync('/proc/self/task').length;
  } catch {
    return 0;
  }
}
