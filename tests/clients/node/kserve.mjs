// Drives the gateway's KServe v2 gRPC frontend with @grpc/grpc-js, loading the protocol file at run time with
// @grpc/proto-loader (no code generated here): health, metadata, ModelInfer, and a ModelStreamInfer stream of
// streamed text. Exits non-zero on the first mismatch.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const address = process.env.DYNAMO_GRPC_ADDRESS;
const model = process.env.DYNAMO_MODEL;
assert.ok(address && model, 'DYNAMO_GRPC_ADDRESS and DYNAMO_MODEL must be set');

const protoPath = fileURLToPath(new URL('../../../src/Dynamo.Gateway/KServe/kserve_v2.proto', import.meta.url));
const definition = protoLoader.loadSync(protoPath, { keepCase: true, longs: Number, defaults: true, oneofs: true });
const { inference } = grpc.loadPackageDefinition(definition);
const client = new inference.GRPCInferenceService(address, grpc.credentials.createInsecure());
const call = (method, request) => new Promise((resolve, reject) => client[method](request, (error, response) => (error ? reject(error) : resolve(response))));

assert.equal((await call('ServerLive', {})).live, true);
assert.equal((await call('ServerReady', {})).ready, true);
assert.equal((await call('ModelReady', { name: model })).ready, true);
const metadata = await call('ModelMetadata', { name: model });
assert.ok(metadata.inputs.some((i) => i.name === 'text_input' && i.datatype === 'BYTES'));

const request = (prompt, maxTokens, streaming) => ({
  model_name: model,
  id: 'node-1',
  inputs: [
    { name: 'text_input', datatype: 'BYTES', shape: [1], contents: { bytes_contents: [Buffer.from(prompt)] } },
    ...(streaming ? [{ name: 'streaming', datatype: 'BOOL', shape: [1], contents: { bool_contents: [true] } }] : []),
  ],
  parameters: { max_tokens: { int64_param: maxTokens }, temperature: { double_param: 0 } },
});
const text = (response, name) => {
  const index = response.outputs.findIndex((o) => o.name === name);
  assert.ok(index >= 0, `output ${name}`);
  const raw = response.raw_output_contents[index];
  return raw.subarray(4, 4 + raw.readUInt32LE(0)).toString('utf8');
};

const whole = await call('ModelInfer', request('Once upon a time', 10, false));
assert.equal(whole.id, 'node-1');
assert.equal(text(whole, 'finish_reason'), 'length');
assert.equal(whole.parameters.completion_tokens.int64_param, 10);

try {
  await call('ModelInfer', { model_name: model, inputs: [] });
  assert.fail('a request without text_input must fail');
} catch (error) {
  assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
  assert.match(error.details, /text_input/);
}

const stream = client.ModelStreamInfer();
const pieces = [];
const done = new Promise((resolve, reject) => {
  stream.on('data', (response) => {
    assert.equal(response.error_message, '');
    pieces.push(response.infer_response);
  });
  stream.on('end', resolve);
  stream.on('error', reject);
});
stream.write(request('Once upon a time', 10, true));
stream.end();
await done;
// One response per piece of text the gateway read at once (usually several), the last one final.
assert.ok(pieces.length >= 1, 'streamed responses');
assert.ok(pieces.slice(0, -1).every((p) => !p.outputs.some((o) => o.name === 'finish_reason')), 'only the last response finishes');
assert.equal(pieces.map((p) => text(p, 'text_output')).join(''), text(whole, 'text_output'), 'streamed text equals the unary text');
assert.equal(pieces.at(-1).parameters.triton_final_response.bool_param, true);
client.close();

console.log(JSON.stringify({ ok: true, text: text(whole, 'text_output') }));
