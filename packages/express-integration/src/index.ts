// @strongroom/express: Express middleware whose passwords, webhook keys and signing keys
// never become JS strings.
export { strongroom, Secrets, type SecretSource, type SecretsInput, type StrongroomMiddleware, type StrongroomOptions, type SecretsRequest } from './store.js';
export { gracefulShutdown, DEFAULT_SHUTDOWN_TIMEOUT, type GracefulShutdownOptions } from './shutdown.js';
