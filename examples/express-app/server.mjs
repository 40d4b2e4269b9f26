// The strongroom demo service: `pnpm demo` from the repository root (or `node server.mjs`).
//
//   DEMO_DATA_DIR  its data folder (default: data/ next to this file, git-ignored): the keys
//                  file `secrets` and the user file `users.json`, both made on first run
//   PORT           the port on 127.0.0.1 (default 3000; 0 picks a free one)
//
// On start: the keys are read from the keys file into Enclaves (refused when its mode is
// wider than 0600), the routes are mounted (src/app.mjs), and gracefulShutdown() drains the
// server on SIGTERM or SIGINT, purges every secret and exits with 143 or 130.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { gracefulShutdown, hashPassword, SecretBuffer } from '@strongroom/express';

import { createApp, SESSION_COOKIE } from './src/app.mjs';
import { createSecretsFile, loadSecrets, SecretsFileError } from './src/secrets-file.mjs';
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

const secretsFile = path.join(dataDir, 'secrets');
const usersFile = path.join(dataDir, 'users.json');

function start() {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (createSecretsFile(secretsFile)) console.log(`First run: created the keys file ${secretsFile} (mode 0600, random keys)`);
  return loadSecrets(secretsFile);
}

let secrets;
try {
  secrets = start();
} catch (error) {
  console.error(`demo service: ${error instanceof SecretsFileError ? error.message : error.stack}`);
  process.exit(1);
}
await createUsersFile(usersFile);
const users = loadUsers(usersFile);
// Checked for names that have no account, so that those take as long as a wrong password.
const unknown = SecretBuffer.random(16);
const dummyHash = await hashPassword(unknown);
unknown.destroy();

const app = createApp({ secrets, users, dummyHash });
const server = app.listen(port, HOST, () => {
  gracefulShutdown(server);
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

  # a GitHub-style webhook, signed with the webhook key of ${secretsFile}
  # (openssl gets the key as an argument: fine for a demo on your own machine, not for production)
  BODY='{"zen":"Keep it logically awesome.","hook_id":1}'
  SIG=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$(sed -n 's/^webhook=//p' ${secretsFile})" | sed 's/^.* //')
  curl -sS -H 'content-type: application/json' -H 'X-GitHub-Event: ping' -H "X-GitHub-Delivery: $(cat /proc/sys/kernel/random/uuid)" \\
    -H "X-Hub-Signature-256: sha256=$SIG" --data-binary "$BODY" ${url}/webhooks/github; echo
`;
}
