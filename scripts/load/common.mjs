// Shared by the load scripts: start the compiled `tinykv server` in a child process, read its RSS.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const CLI = resolve('dist/src/cli/main.js');

/** Starts `tinykv <command> <args>` (server or scheduler) and resolves with { child, addr } once it listens. */
export function startServer(args, command = 'server') {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, command, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const match = /listening on (\S+)/.exec(out);
      if (match) resolvePromise({ child, addr: match[1] });
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
}

/** Resident set size of a process in MiB (Linux). */
export function rssMiB(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
