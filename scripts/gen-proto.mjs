#!/usr/bin/env node
// Regenerates src/proto/*.ts from proto/*.proto with buf + ts-proto.
// Raft-side packages decode 64-bit integers as numbers (ids, terms and indexes stay below 2^53;
// ts-proto throws if one does not); packages that carry timestamps decode them as bigint.
import { execFileSync } from 'node:child_process';
import { rmSync, mkdirSync } from 'node:fs';

const out = 'src/proto';
const numberPackages = ['metapb', 'errorpb', 'eraftpb', 'raft_serverpb', 'raft_cmdpb'];
const bigintPackages = ['kvrpcpb', 'coprocessor', 'tinykvpb', 'schedulerpb'];

function template(forceLong) {
  const opt = [
    `forceLong=${forceLong}`,
    'esModuleInterop=true',
    'env=node',
    'outputServices=grpc-js',
    'importSuffix=.js',
    'outputJsonMethods=false',
    'outputPartialMethods=true',
    'useExactTypes=false',
  ];
  return JSON.stringify({
    version: 'v2',
    plugins: [{ local: 'node_modules/.bin/protoc-gen-ts_proto', out, opt }],
  });
}

function generate(packages, forceLong) {
  const args = ['generate', 'proto', '--template', template(forceLong)];
  for (const name of packages) args.push('--path', `proto/${name}.proto`);
  execFileSync('node_modules/.bin/buf', args, { stdio: 'inherit' });
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
// ts-proto also writes the files a package imports, so the number run goes last and wins.
generate(bigintPackages, 'bigint');
generate(numberPackages, 'number');
// The nested-message map the server's wire-format check walks (src/rpc/wire-format.ts).
execFileSync('node', ['scripts/gen-wire-schema.mjs'], { stdio: 'inherit' });
