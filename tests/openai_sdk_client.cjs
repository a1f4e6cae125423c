// The official `openai` npm package against `viewfinder-cli serve`: a client nobody here wrote.
// node openai_sdk_client.cjs BASE_URL API_KEY PICTURE EXPECTED_ANSWER PROMPT_TOKENS
// (NODE_PATH names the node_modules the package was installed into.)
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const OpenAI = require('openai');

const [baseURL, apiKey, picture, expected, promptTokens] = process.argv.slice(2);

async function main() {
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['tiny-a']);

  // Golden case a02: the picture with its pixel limits (Qwen's options beside OpenAI's image_url).
  const url = 'data:image/png;base64,' + fs.readFileSync(picture).toString('base64');
  const messages = [{
    role: 'user',
    content: [
      { type: 'image_url', image_url: { url }, min_pixels: 3136, max_pixels: 20000 },
      { type: 'text', text: 'Describe this image.' },
    ],
  }];
  const request = { model: 'tiny-a', messages, max_tokens: 16, temperature: 0 };

  const answer = await client.chat.completions.create(request);
  assert.equal(answer.object, 'chat.completion');
  assert.equal(answer.choices.length, 1);
  assert.equal(answer.choices[0].message.role, 'assistant');
  assert.equal(answer.choices[0].message.content, expected);
  assert.equal(answer.choices[0].finish_reason, 'length');
  assert.equal(answer.usage.prompt_tokens, Number(promptTokens));
  assert.equal(answer.usage.completion_tokens, 16);
  assert.equal(answer.usage.total_tokens, Number(promptTokens) + 16);

  const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
  let text = '';
  let chunks = 0;
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += choice.delta.content ?? '';
      chunks++;
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  assert.equal(text, expected);
  assert.ok(chunks > 2, `streamed in ${chunks} chunks`);
  assert.equal(finish, 'length');
  assert.equal(usage.prompt_tokens, answer.usage.prompt_tokens);
  assert.equal(usage.completion_tokens, 16);
  assert.equal(usage.total_tokens, answer.usage.total_tokens);

  // An error as the SDK reports it.
  await assert.rejects(client.chat.completions.create({ ...request, n: 2 }),
                       (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && /"n" must be 1/.test(e.message));
  console.log(`openai ${require('openai/version').VERSION}: answer, ${chunks} streamed chunks and an error as expected`);
}

main().catch((e) => { console.error(e); process.exit(1); });
