/**
 * `tinykv/client`: a TinyKV client for Node.js — raw key-value calls and Percolator transactions
 * over gRPC, against a cluster (through its scheduler), a standalone node, or one node directly.
 *
 * @example
 *   const client = await connect({ addr: '127.0.0.1:20160' });
 *   await client.transaction(async (txn) => { txn.put('k', 'v'); });
 *   await client.close();
 */
export { connect, TinyKvClient, type ConnectOptions, type RawCallOptions, type TransactionOptions } from './client.js';
export { Transaction, type TxnOptions, type TxnState } from './txn.js';
export { ClientError, ClientErrorCode, isClientError, isRetryable, type ClientErrorCodeValue } from './errors.js';
export type { Pair } from './snapshot.js';
export type { Bytes } from './util.js';
