// Exercises the gateway with the official `openai` npm package: completions (plain and streamed),
// chat (plain and streamed, with usage), an agent loop's two tool-calling turns, the Responses API (create, stream,
// follow-up, retrieve, delete), models and errors. Exits non-zero on the first mismatch.
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

// Log-probabilities, as the SDK types them: chat's logprobs.content entries (whole and streamed), completions' legacy shape.
const scored = await client.chat.completions.create({
  model, messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 2,
});
const entries = scored.choices[0].logprobs.content;
assert.equal(entries.length, 6, 'one logprobs entry per generated token');
for (const entry of entries) {
  assert.equal(typeof entry.token, 'string');
  assert.ok(entry.logprob <= 0 && Number.isFinite(entry.logprob));
  assert.ok(Array.isArray(entry.bytes) && entry.bytes.every((b) => Number.isInteger(b) && b >= 0 && b < 256));
  assert.equal(entry.top_logprobs.length, 2);
}
const streamedEntries = [];
for await (const chunk of await client.chat.completions.create({
  model, messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 2, stream: true,
})) {
  streamedEntries.push(...(chunk.choices[0]?.logprobs?.content ?? []));
}
assert.deepEqual(streamedEntries.map((e) => e.token), entries.map((e) => e.token), 'streamed logprobs name the same tokens');
const scoredCompletion = await client.completions.create({ model, prompt: 'The capital of France is', max_tokens: 4, temperature: 0, logprobs: 2, echo: false });
const legacy = scoredCompletion.choices[0].logprobs;
assert.equal(legacy.tokens.length, 4);
assert.equal(legacy.token_logprobs.length, 4);
assert.equal(legacy.text_offset.length, 4);
assert.ok(legacy.top_logprobs.every((top) => Object.keys(top).length >= 1 && Object.keys(top).length <= 2));

// The Responses API, as the Vercel AI SDK's default provider call and the Agents SDK use it.
const response = await client.responses.create({ model, instructions: 'Be brief.', input: 'Hello there', max_output_tokens: 6, temperature: 0 });
assert.equal(response.object, 'response');
assert.equal(response.status, 'incomplete');
assert.equal(response.incomplete_details.reason, 'max_output_tokens');
assert.equal(response.usage.output_tokens, 6);
assert.ok(response.output_text.length > 0, 'output_text (the SDK joins the output_text parts)');
assert.equal(response.output_text, chat.choices[0].message.content, 'the same greedy text as chat for the same messages');

const events = [];
let responseText = '';
const responseStream = await client.responses.create({ model, instructions: 'Be brief.', input: 'Hello there', max_output_tokens: 6, temperature: 0, stream: true });
for await (const event of responseStream) {
  events.push(event.type);
  if (event.type === 'response.output_text.delta') responseText += event.delta;
}
assert.equal(events[0], 'response.created');
assert.equal(events.at(-1), 'response.incomplete');
assert.equal(responseText, response.output_text, 'streamed response text equals the non-streamed text');

// The SDK's stream helper accumulates the events into the final response (this SDK version replaces its snapshot
// only on response.completed, so an incomplete response keeps the accumulated output, not the final usage).
const helper = client.responses.stream({ model, instructions: 'Be brief.', input: 'Hello there', max_output_tokens: 6, temperature: 0 });
const final = await helper.finalResponse();
const finalText = final.output.flatMap((item) => item.content ?? []).map((part) => part.text).join('');
assert.equal(finalText, response.output_text, 'the helper accumulates the same text');

const followUp = await client.responses.create({ model, input: 'And again?', previous_response_id: response.id, max_output_tokens: 3 });
assert.equal(followUp.previous_response_id, response.id);
assert.ok(followUp.usage.input_tokens > response.usage.input_tokens, 'the follow-up prompt holds the first turn');
const retrieved = await client.responses.retrieve(response.id);
assert.equal(retrieved.output_text, response.output_text);
await client.responses.delete(response.id);
try {
  await client.responses.retrieve(response.id);
  assert.fail('a deleted response must be gone');
} catch (error) {
  assert.equal(error.status, 404);
}

try {
  await client.responses.create({ model, input: 'x', reasoning: { effort: 'high' } });
  assert.fail('reasoning must be refused');
} catch (error) {
  assert.equal(error.status, 400);
  assert.equal(error.param, 'reasoning');
}

// An agent loop's two turns: tools offered (the model may answer or call), then the history an agent sends back after
// running a call: the assistant's tool_calls with content null and the tool's result. Random weights rarely call, so
// turn 2 is built as the SDK's types describe it.
const tools = [{
  type: 'function',
  function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 40 } }, required: ['city'], additionalProperties: false } },
}];
const history = [{ role: 'user', content: 'Weather in Paris?' }];
const turn1 = await client.chat.completions.create({ model, messages: history, tools, tool_choice: 'auto', parallel_tool_calls: false, max_tokens: 6 });
assert.equal(turn1.choices[0].message.role, 'assistant');
assert.ok(['stop', 'length', 'tool_calls'].includes(turn1.choices[0].finish_reason));
const calls = turn1.choices[0].message.tool_calls
  ?? [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: JSON.stringify({ city: 'Paris' }) } }];
history.push({ role: 'assistant', content: null, tool_calls: calls });
for (const call of calls) {
  history.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify({ city: 'Paris', sky: 'sunny' }) });
}
const turn2 = await client.chat.completions.create({ model, messages: history, tools, max_tokens: 6 });
assert.equal(turn2.object, 'chat.completion');
assert.equal(turn2.choices[0].message.role, 'assistant');
let turn2Events = 0;
for await (const chunk of await client.chat.completions.create({ model, messages: history, tools, max_tokens: 6, stream: true })) {
  turn2Events++;
  assert.ok(chunk.choices.length <= 1);
}
assert.ok(turn2Events > 0, 'the streamed second turn sends chunks');
// tool_choice 'required' forces a call (constrained decoding): even random weights answer with a valid one.
const forced = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools, tool_choice: 'required', max_tokens: 200 });
assert.equal(forced.choices[0].finish_reason, 'tool_calls');
const forcedCall = forced.choices[0].message.tool_calls[0];
assert.equal(forcedCall.function.name, 'get_weather');
assert.equal(typeof JSON.parse(forcedCall.function.arguments).city, 'string');

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
