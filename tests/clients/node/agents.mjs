// Drives the gateway with the agent frameworks people use, as their users call them: the Vercel AI SDK (`ai` with
// `@ai-sdk/openai`, whose default provider call goes to the Responses API, with tools and an agent's tool history) and
// LangChain JS (`@langchain/openai`: chat completions and, when asked, the Responses API; bindTools with tool history). Exits non-zero on the first mismatch.
import assert from 'node:assert/strict';
import { createOpenAI } from '@ai-sdk/openai';
import { generateText, jsonSchema, streamText, tool } from 'ai';
import { ChatOpenAI } from '@langchain/openai';
import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages';

const baseURL = process.env.DYNAMO_BASE_URL;
const model = process.env.DYNAMO_MODEL;
assert.ok(baseURL && model, 'DYNAMO_BASE_URL and DYNAMO_MODEL must be set');

// --- Vercel AI SDK -----------------------------------------------------------------------------------------------
const openai = createOpenAI({ baseURL, apiKey: 'unused' });
const prompt = { system: 'Be brief.', prompt: 'Hello there', maxOutputTokens: 6, temperature: 0, maxRetries: 0 };

const generated = await generateText({ model: openai(model), ...prompt });
assert.ok(generated.response.id.startsWith('resp_'), `the default provider call used the Responses API (id ${generated.response.id})`);
assert.ok(generated.text.length > 0);
assert.equal(generated.finishReason, 'length');
assert.equal(generated.usage.outputTokens, 6);

let streamedText = '';
const streamed = streamText({ model: openai(model), ...prompt });
for await (const delta of streamed.textStream) {
  streamedText += delta;
}
assert.equal(streamedText, generated.text, 'streamText yields the generateText text');
assert.equal(await streamed.finishReason, 'length');

const viaChat = await generateText({ model: openai.chat(model), ...prompt });
assert.ok(viaChat.response.id.startsWith('chatcmpl-'), 'openai.chat(model) uses chat completions');
assert.equal(viaChat.text, generated.text, 'both APIs serve the same greedy text');

// Tools: offered (random weights rarely call one), then an agent's second turn with the call and its result in the
// history, which the SDK sends as Responses function_call and function_call_output items.
const tools = {
  get_weather: tool({
    description: 'Weather of a city',
    inputSchema: jsonSchema({ type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }),
  }),
};
const offered = await generateText({ model: openai(model), tools, ...prompt });
assert.ok(['length', 'stop', 'tool-calls'].includes(offered.finishReason), `finish reason ${offered.finishReason}`);
const secondTurn = await generateText({
  model: openai(model),
  tools,
  maxOutputTokens: 6,
  temperature: 0,
  maxRetries: 0,
  messages: [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: [{ type: 'tool-call', toolCallId: 'call_1', toolName: 'get_weather', input: { city: 'Paris' } }] },
    { role: 'tool', content: [{ type: 'tool-result', toolCallId: 'call_1', toolName: 'get_weather', output: { type: 'json', value: { city: 'Paris', sky: 'sunny' } } }] },
  ],
});
assert.ok(secondTurn.response.id.startsWith('resp_'));
assert.ok(secondTurn.usage.inputTokens > offered.usage.inputTokens, 'the prompt of the second turn holds the call and its result');

// --- LangChain JS ------------------------------------------------------------------------------------------------
const chatModel = new ChatOpenAI({ model, apiKey: 'unused', configuration: { baseURL }, maxTokens: 6, temperature: 0, maxRetries: 0 });
const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there' }];
const reply = await chatModel.invoke(messages);
assert.equal(reply.content, generated.text, 'LangChain gets the same greedy text');
assert.equal(reply.usage_metadata.output_tokens, 6);

let chunks = '';
for await (const chunk of await chatModel.stream(messages)) {
  chunks += chunk.content;
}
assert.equal(chunks, reply.content, 'LangChain streaming yields the same text');

const responsesModel = new ChatOpenAI({ model, apiKey: 'unused', configuration: { baseURL }, maxTokens: 6, temperature: 0, maxRetries: 0, useResponsesApi: true });
const responsesReply = await responsesModel.invoke(messages);
assert.equal(responsesReply.text ?? responsesReply.content, generated.text, 'LangChain over the Responses API gets the same text');

// bindTools: tools offered, then the history of a call and its result.
const withTools = chatModel.bindTools([{
  type: 'function',
  function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
}]);
const toolTurn = await withTools.invoke([
  new HumanMessage('Weather in Paris?'),
  new AIMessage({ content: '', tool_calls: [{ id: 'call_1', name: 'get_weather', args: { city: 'Paris' }, type: 'tool_call' }] }),
  new ToolMessage({ tool_call_id: 'call_1', content: JSON.stringify({ city: 'Paris', sky: 'sunny' }) }),
]);
assert.ok(toolTurn.usage_metadata.input_tokens > reply.usage_metadata.input_tokens, 'the tool history reached the prompt');

console.log(JSON.stringify({ ok: true, ai_sdk: generated.text, langchain: reply.content }));
