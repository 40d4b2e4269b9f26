// @strongroom/kms-loaders: secrets from files, the environment, systemd credentials, age
// files, PKCS#11 tokens, HashiCorp Vault, AWS Secrets Manager and KMS, Google Cloud Secret
// Manager and Azure Key Vault loaded straight into Enclaves, and a store that keeps them
// fresh. strongroom never becomes a secret store itself: the secrets stay where they are
// kept; this package shortens the path from there into guarded memory, and says where it
// cannot.
export { loadSecrets, SecretStore, type LoadSecretsOptions } from './store.js';
export { DEFAULT_SECRET_MAX_SIZE } from './source.js';
export { env, file, systemdCredential, type EnvSourceOptions, type FileSourceOptions, type SystemdCredentialOptions } from './local.js';
export { awsKms, awsSecretsManager, type AwsClient, type AwsKmsOptions, type AwsSecretsManagerOptions } from './aws.js';
export { pkcs11, type Pkcs11SourceOptions } from './pkcs11.js';
export { age, type AgeSourceOptions } from './age.js';
export { defineSource, isSource, sourceError, type Source, type SourceErrorCode, type SourceSpec } from './source.js';
export { DEFAULT_RETRY, type RetryOptions } from './retry.js';
export { Enclave, SecretBuffer } from '@strongroom/enclave';
export { StrongroomError, isStrongroomError, type StrongroomErrorCode } from '@strongroom/core-native';
export { vault, vaultTransit, type VaultAuth, type VaultOptions, type VaultTlsOptions, type VaultTransitOptions } from './vault.js';
export { gcpSecretManager, type GcpAccessSecretVersionResponse, type GcpSecretManagerClient, type GcpSecretManagerOptions } from './gcp.js';
export { azureKeyVault, type AzureKeyVaultOptions, type AzureKeyVaultSecret, type AzureSecretClient } from './azure.js';
