// The strongroom server of the HTTP bench: the webhook route with verifyWebhook (GitHub's
// scheme) and the JWT route with jwtAuth, both keyed by an Enclave. Same Express app shape,
// same handlers and responses as usual-server.mjs; only the verification differs.
import express from 'express';
import { stats } from '@strongroom/core-native';
import { Enclave, SecretBuffer, jwtAuth, verifyWebhook } from '@strongroom/express';
import { serveForParent } from './common.mjs';

serveForParent((secret) => {
  // The bench hands both servers the same secret over IPC so that the same signed requests
  // verify on both; a real app would load it with SecretBuffer.fromEnv/fromFile or a
  // strongroom({ secrets }) store. Enclave.from wipes the bytes it is given.
  const key = Enclave.from(Buffer.from(secret, 'utf8'));
  const app = express();
  app.post('/webhook', verifyWebhook({ secret: key, scheme: 'github' }), (req, res) => {
    const event = JSON.parse(req.body.toString('utf8')); // req.body: the verified raw body (a Buffer)
    res.json({ ok: true, action: event.action });
  });
  app.get('/me', jwtAuth({ secret: key, algorithms: ['HS256'] }), (req, res) => {
    res.json({ sub: req.auth.sub });
  });
  return {
    app,
    stats() {
      const s = stats();
      return {
        liveBuffers: SecretBuffer.live().buffers,
        liveBytes: SecretBuffer.live().bytes,
        regions: s.regions,
        bytesLocked: s.bytesLocked,
        spareRegions: s.spareRegions,
        orphanedRegions: s.orphanedRegions,
      };
    },
  };
});
