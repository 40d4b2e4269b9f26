// The strongroom demo service: `pnpm demo` from the repository root (or `node server.mjs`).
//
//   DEMO_DATA_DIR  its data folder (default: data/ next to this file, git-ignored): the keys
//                  folder `keys/` (one file per key) and the user file `users.json`, made on
//                  first run
//   PORT           the port on 127.0.0.1 (default 3000; 0 picks a free one)
//
// On start: the keys are loaded through @strongroom/kms-loaders into a SecretStore of Enclaves
// (src/keys.mjs: refused when a file's mode is wider than 0600; each file watched, so a key
// replaced on disk is served from then on), the routes are mounted (src/app.mjs) with the
// store, and gracefulShutdown() drains the server on SIGTERM or SIGINT, closes the store,
// purges every secret and exits with 143 or 130.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { gracefulShutdown, hashPassword, isStrongroomError, SecretBuffer } from '@strongroom/express';

import { createApp, SESSION_COOKIE } from './src/app.mjs';
import { createKeyFiles, KeysError, loadKeys, newKeyCommand } from './src/keys.mjs';
import { createUsersFile, DEMO_USER, loadUsers } from './src/users.mjs';

const HOST = '127.0.0.1';
const here = path.dirname(fileURLToPath(import.meta.url));
const dataDir = path.resolve(process.env.DEMO_DATA_DIR || path.join(here, 'data'));
const portText = process.env.PORT ?? '3000';
const port = Number(portText);
if (!/^\d{1,5}$/.test(portText) || port > 65535) {
  console.error(`PORT must be a port number (0 for any free port), got '${portText}'`);
  process.exit(1);
}

const keysDir = path.join(dataDir, 'keys');
const usersFile = path.join(dataDir, 'users.json');
// Our own errors and strongroom's say what to do and never hold a secret byte: their message is enough.
const explain = (error) => (error instanceof KeysError || isStrongroomError(error) ? error.message : error.stack);

async function start() {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const created = createKeyFiles(keysDir);
  if (created.length > 0) console.log(`First run: created the keys ${created.join(', ')} in ${keysDir} (mode 0600, 32 random bytes each)`);
  return loadKeys(keysDir);
}

let store;
try {
  store = await start();
} catch (error) {
  console.error(`demo service: ${explain(error)}`);
  process.exit(1);
}
// A key file replaced on disk is loaded again: a new key is served from the next request on;
// one that cannot be loaded (a wider mode, not a key) leaves the last good key in service.
store.on('rotate', (name, version) => console.log(`key '${name}' rotated: version ${version}, from ${path.join(keysDir, name)}, is in service`));
store.on('error', (error, name) => console.error(`demo service: the key '${name}' changed on disk but was not loaded (the last good one stays in service): ${explain(error)}`));
await createUsersFile(usersFile);
const users = loadUsers(usersFile);
// Checked for names that have no account, so that those take as long as a wrong password.
const unknown = SecretBuffer.random(16);
const dummyHash = await hashPassword(unknown);
unknown.destroy();

const app = createApp({ secrets: store, users, dummyHash });
const server = app.listen(port, HOST, () => {
  gracefulShutdown(server, { onShutdown: () => store.close() }); // after the requests in flight, before the purge
  const url = `http://${HOST}:${server.address().port}`;
  console.log(`demo service listening on ${url} (data folder ${dataDir}); Ctrl-C stops it`);
  console.log(curlCommands(url));
});
server.on('error', (error) => {
  console.error(`demo service: cannot listen on ${HOST}:${port}: ${error.message}${error.code === 'EADDRINUSE' ? ' (set PORT to another port)' : ''}`);
  process.exit(1);
});

function curlCommands(url) {
  const jar = path.join(dataDir, 'curl-cookies.txt');
  return `
Try it (bash; the password is the one printed at the first run):

  # log in: the password goes from the prompt to curl's stdin, never onto a command line
  read -rsp 'password: ' PW; echo
  printf '{"user":"${DEMO_USER}","password":"%s"}' "$PW" | curl -sS -c ${jar} -H 'content-type: application/json' --data-binary @- ${url}/login; echo
  unset PW

  # the signed session cookie it set
  curl -sS -b ${jar} ${url}/session; echo

  # a JWT for that session, then a route that requires it
  TOKEN=$(curl -sS -b ${jar} -X POST ${url}/token | sed -n 's/.*"token":"\\([^"]*\\)".*/\\1/p')
  curl -sS -H "Authorization: Bearer $TOKEN" ${url}/me; echo

  # a tampered cookie is refused (401)
  curl -sS -H 'Cookie: ${SESSION_COOKIE}=s%3Aeve.9999999999.AAAA' ${url}/session; echo

  # a GitHub-style webhook, signed with the webhook key ${path.join(keysDir, 'webhook')}
  # (openssl gets the key as an argument: fine for a demo on your own machine, not for production)
  BODY='{"zen":"Keep it logically awesome.","hook_id":1}'
  SIG=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$(cat ${path.join(keysDir, 'webhook')})" | sed 's/^.* //')
  curl -sS -H 'content-type: application/json' -H 'X-GitHub-Event: ping' -H "X-GitHub-Delivery: $(cat /proc/sys/kernel/random/uuid)" \\
    -H "X-Hub-Signature-256: sha256=$SIG" --data-binary "$BODY" ${url}/webhooks/github; echo

  # rotate the webhook key on disk: the service loads the new one at once (it says so), and the
  # webhook commands above, run again, sign with it; the old signature is now refused (401)
  ${newKeyCommand(path.join(keysDir, 'webhook'))}
`;
}
