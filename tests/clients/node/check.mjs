// Exercises the gateway with the official `openai` npm package: completions (plain and streamed),
// chat (plain and streamed, with usage), models and an error. Exits non-zero on the first mismatch.
import OpenAI from 'openai';
import assert from 'node:assert/strict';

const baseURL = process.env.DYNAMO_BASE_URL;
const model = process.env.DYNAMO_MODEL;
assert.ok(baseURL && model, 'DYNAMO_BASE_URL and DYNAMO_MODEL must be set');
const client = new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0 });

const models = await client.models.list();
assert.ok(models.data.some((m) => m.id === model), `model ${model} listed`);

const completion = await client.completions.create({ model, prompt: 'The capital of France is', max_tokens: 8, temperature: 0 });
assert.equal(completion.object, 'text_completion');
assert.equal(completion.choices.length, 1);
assert.equal(completion.usage.completion_tokens, 8);
assert.equal(completion.choices[0].finish_reason, 'length');

let streamed = '';
let finish = null;
const stream = await client.completions.create({ model, prompt: 'The capital of France is', max_tokens: 8, temperature: 0, stream: true });
for await (const chunk of stream) {
  streamed += chunk.choices[0]?.text ?? '';
  finish = chunk.choices[0]?.finish_reason ?? finish;
}
assert.equal(streamed, completion.choices[0].text, 'streamed text equals the non-streamed text');
assert.equal(finish, 'length');

const chat = await client.chat.completions.create({
  model,
  messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there' }],
  max_tokens: 6,
  temperature: 0,
});
assert.equal(chat.object, 'chat.completion');
assert.equal(chat.choices[0].message.role, 'assistant');
assert.equal(chat.usage.completion_tokens, 6);

let chatText = '';
let usage = null;
const chatStream = await client.chat.completions.create({
  model,
  messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there' }],
  max_tokens: 6,
  temperature: 0,
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of chatStream) {
  chatText += chunk.choices[0]?.delta?.content ?? '';
  usage = chunk.usage ?? usage;
}
assert.equal(chatText, chat.choices[0].message.content, 'streamed chat equals the non-streamed chat');
assert.equal(usage.completion_tokens, 6);

// Structured outputs: a strict json_schema, as the SDK sends it; the answer must parse and follow the schema.
const structured = await client.chat.completions.create({
  model,
  messages: [{ role: 'user', content: 'The weather in Paris, as JSON.' }],
  max_tokens: 300,
  seed: 3,
  response_format: {
    type: 'json_schema',
    json_schema: {
      name: 'weather',
      strict: true,
      schema: {
        type: 'object',
        properties: { unit: { enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer' }, city: { type: 'string', maxLength: 10 } },
        required: ['unit', 'days', 'city'],
        additionalProperties: false,
      },
    },
  },
});
assert.equal(structured.choices[0].finish_reason, 'stop');
const weather = JSON.parse(structured.choices[0].message.content);
assert.deepEqual(Object.keys(weather).sort(), ['city', 'days', 'unit']);
assert.ok(['celsius', 'fahrenheit'].includes(weather.unit));
assert.ok(Number.isInteger(weather.days));
assert.ok([...weather.city].length <= 10);

try {
  await client.chat.completions.create({
    model,
    messages: [{ role: 'user', content: 'x' }],
    response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: '^a' } } },
  });
  assert.fail('an unsupported schema keyword must fail');
} catch (error) {
  assert.equal(error.status, 400);
  assert.equal(error.error?.param ?? error.param, 'response_format');
}

try {
  await client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] });
  assert.fail('unknown model must fail');
} catch (error) {
  assert.equal(error.status, 404);
  assert.equal(error.error?.code ?? error.code, 'model_not_found');
}

console.log(JSON.stringify({ ok: true, completion: completion.choices[0].text, chat: chat.choices[0].message.content, structured: weather }));
