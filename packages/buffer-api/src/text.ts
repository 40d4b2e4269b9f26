// '@strongroom/buffer/text': secret text decoded byte by byte into SecretBuffers, never a JS
// string. For strongroom's adapters (@strongroom/express's body parsers,
// @strongroom/kms-loaders' JSON fields); it hands out SecretBuffers, never a region.
export { CountingSink, hexValue, Utf8Writer, ViewSink, type ByteSink } from './utf8.js';
export {
  base64Secret,
  base64ToSecret,
  decodeSecret,
  decodeString,
  findJsonValues,
  isJsonString,
  jsonPlain,
  jsonStringField,
  jsonStringSecret,
  JsonSyntaxError,
  scanScalar,
  scanString,
  skipSpace,
  skipValue,
  type JsonField,
  type JsonToken,
} from './json-text.js';
