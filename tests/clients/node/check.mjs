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

try {
  await client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] });
  assert.fail('unknown model must fail');
} catch (error) {
  assert.equal(error.status, 404);
  assert.equal(error.error?.code ?? error.code, 'model_not_found');
}

console.log(JSON.stringify({ ok: true, completion: completion.choices[0].text, chat: chat.choices[0].message.content }));
