// Embedding a replicated store: a scheduler and one cluster store in this process, used through
// the cluster client (which finds regions and leaders through the scheduler), then stopped.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startScheduler, startServer } from 'tinykv';
import { connect } from 'tinykv/client';

const dataDir = mkdtempSync(join(tmpdir(), 'tinykv-cluster-'));
// The scheduler bootstraps the first region once one store has registered.
const scheduler = await startScheduler({ addr: '127.0.0.1:0', dataDir: join(dataDir, 'scheduler'), initialStores: 1 });
const store = await startServer({
  standalone: false,
  scheduler: scheduler.addr,
  addr: '127.0.0.1:0',
  dataDir: join(dataDir, 'store'),
  logLevel: 'warn',
});

const client = await connect({ scheduler: [scheduler.addr] });
await client.put('greeting', `hello from store ${store.storeId}`);
console.log((await client.get('greeting'))?.toString());

await client.close();
await store.close();
await scheduler.close();
