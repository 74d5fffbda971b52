// comlink ships its Node adapter as an ES module with no declaration that TypeScript resolves for
// the .mjs path (the .d.ts beside it is found only for the CommonJS build); this is its signature
// for the ports we hand it.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  import type { MessagePort } from 'node:worker_threads';

  export default function nodeEndpoint(port: MessagePort): Endpoint;
}
