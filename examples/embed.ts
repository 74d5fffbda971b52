// Embedding TinyKV-TS in a Node service: start a node in-process, use it over gRPC, stop it.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, startServer } from 'tinykv';

const dataDir = mkdtempSync(join(tmpdir(), 'tinykv-embed-'));
const node = await startServer({ addr: '127.0.0.1:0', dataDir, logLevel: 'warn' });

const client = await connect({ addr: node.addr });
await client.put('greeting', 'hello from an embedded node');
const value = await client.get('greeting');
console.log(value?.toString());

await client.close();
await node.close();
