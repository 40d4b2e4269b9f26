// Residue, in a child process running a real server: after a response and a forced GC, a
// password POSTed through sensitiveBody() is in no readable memory of the server except
// the guarded region of a kept secret and one place Node itself keeps: the 64 KiB buffer
// the HTTP parser reads every socket into (node_http_parser.cc, on the C++ heap), until
// the next read overwrites it. The controls: the scan finds the kept secret in its guarded
// pages, and finds the copies express.json() leaves in the JS heap.
import http from 'node:http';

import { expectResidue, makeMarker, startChild, textMarker, type MemoryMatch, type ScanResult } from '@strongroom/testkit';
import { describe, expect, it } from 'vitest';

import { CHILD, MAJORS, mayBeReadBuffer } from './helpers.js';

/** The server: five routes, each pausing at a checkpoint once its response has finished and the GC has run. */
function serverCode(module: string): string {
  return `
import express from '${module}';
import { sensitiveBody, keep } from '@strongroom/express';
import * as core from '@strongroom/core-native';
core.configure({ backend: 'mmap' }); // guarded pages a scan can read ('secretmem' pages it cannot)
const app = express();
let kept, plain;
async function settle(label) {
  for (let i = 0; i < 3; i++) { globalThis.gc(); await new Promise((resolve) => setImmediate(resolve)); }
  await checkpoint(label);
}
app.post('/keep', sensitiveBody({ fields: ['password'] }), (req, res) => {
  kept = keep(req.body.password);
  res.on('finish', () => settle('kept').then(() => kept.destroy()));
  res.end('ok');
});
app.post('/drop', sensitiveBody({ fields: ['password'] }), (req, res) => {
  res.on('finish', () => settle('dropped'));
  res.end('ok');
});
app.post('/drop-form', sensitiveBody({ fields: ['password'] }), (req, res) => {
  res.on('finish', () => settle('dropped form'));
  res.end('ok');
});
app.post('/plain', express.json(), (req, res) => {
  plain = req.body; // held, as a handler would hold it
  res.on('finish', () => settle('plain').then(() => process.exit(0)));
  res.end('ok');
});
app.post('/filler', (req, res) => {
  req.resume();
  req.on('end', () => { res.on('finish', () => settle('filler')); res.end('ok'); });
});
const server = app.listen(0, '127.0.0.1', () => checkpoint('listening', server.address().port));
`;
}

function post(port: number, path: string, body: string): Promise<number> {
  const type = path === '/drop-form' ? 'application/x-www-form-urlencoded' : 'application/json';
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: { 'content-type': type } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const inHeap = (match: MemoryMatch): boolean => mayBeReadBuffer(match);

describe.each(MAJORS)('residue on $name', (major) => {
  it("a password is in no readable memory of the server but a kept secret's guarded pages and Node's socket read buffer, until the next read", async () => {
    const marker = textMarker(makeMarker(24)); // printable, so that it can be a JSON string
    const body = `{"user":"ada","password":"${marker.text}"}`;
    const filler = `{"pad":"${'x'.repeat(4096)}"}`; // longer than any read of the secret's request
    const child = await startChild(serverCode(major.module), { ...CHILD, args: ['--expose-gc'] });
    const port = (await child.waitFor('listening')) as number;
    child.resume();
    const replies: Promise<number>[] = [post(port, '/keep', body)];
    const send = (path: string, text: string) => () => void replies.push(post(port, path, text));
    let readBuffer: bigint | undefined;

    await expectResidue(child, marker.bytes, [
      {
        at: 'kept', // positive control: the scan reads guarded pages and Node's buffer
        count: 2,
        check: (found: ScanResult) => {
          expect(found.matches.filter((m) => m.mapping.perms === '---p')).toHaveLength(1); // the kept secret, at rest
          const heap = found.matches.filter(inHeap);
          expect(heap).toHaveLength(1);
          readBuffer = heap[0]?.address;
        },
        afterResume: send('/filler', filler), // the child destroys the kept secret as it resumes
      },
      { at: 'filler', present: false, afterResume: send('/drop', body) },
      {
        at: 'dropped', // the secret went with its response: only Node's read buffer is left, at the same address
        count: 1,
        check: (found: ScanResult) => {
          expect(found.matches.every(inHeap)).toBe(true);
          expect(found.matches[0]?.address).toBe(readBuffer);
        },
        afterResume: send('/filler', filler),
      },
      { at: 'filler', present: false, afterResume: send('/drop-form', `user=ada&password=${marker.text}`) }, // the next read overwrote it
      {
        at: 'dropped form', // the same for a urlencoded body
        count: 1,
        check: (found: ScanResult) => {
          expect(found.matches.every(inHeap)).toBe(true);
          const offset = (found.matches[0]?.address ?? 0n) - (readBuffer as bigint); // other headers, so a few bytes off
          expect(offset > -256n && offset < 256n).toBe(true);
        },
        afterResume: send('/filler', filler),
      },
      { at: 'filler', present: false, afterResume: send('/plain', body) },
      {
        at: 'plain', // control: express.json() leaves copies in the JS heap (anonymous rw pages) as well
        present: true,
        check: (found: ScanResult) => {
          expect(found.matches.filter((m) => m.mapping.path === '' && m.mapping.perms.startsWith('rw')).length).toBeGreaterThan(0);
          expect(found.matches.length).toBeGreaterThan(2);
        },
      },
    ]);
    expect(await Promise.all(replies)).toEqual([200, 200, 200, 200, 200, 200, 200]);
  });
});
