#!/usr/bin/env node
// Regenerates bench/proto-gen/*.ts from bench/proto/*.proto (the etcd messages `tinykv bench
// --target etcd` speaks) with buf + ts-proto, using the same options as scripts/gen-proto.mjs.
// Run from the repository root: node scripts/gen-bench-proto.mjs
import { execFileSync } from 'node:child_process';
import { rmSync, mkdirSync } from 'node:fs';

const out = 'bench/proto-gen';
const opt = [
  'forceLong=bigint',
  'esModuleInterop=true',
  'env=node',
  'outputServices=grpc-js',
  'importSuffix=.js',
  'outputJsonMethods=false',
  'outputPartialMethods=true',
  'useExactTypes=false',
];
const template = JSON.stringify({
  version: 'v2',
  plugins: [{ local: 'node_modules/.bin/protoc-gen-ts_proto', out, opt }],
});

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
// bench/proto is not a module of the root buf.yaml, so it is built as a plain directory input.
execFileSync('node_modules/.bin/buf', ['generate', 'bench/proto', '--template', template], { stdio: 'inherit' });
